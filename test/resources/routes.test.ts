/**
 * Resource routes, one suite over SQLite and Postgres (a random schema per run): every route kind, status
 * and header of issue 11 (pages, filters, ordering, get one, nested path, create, replace, update, delete,
 * ETag / If-None-Match / If-Match, OPTIONS and 405), and writes invalidating cached reads.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { postgresAvailable } from '../helpers/services.js';
import { loadConfigFile } from '../../src/config/load.js';
import { loadData } from '../../src/resources/load-data.js';

const pgUrl = await postgresAvailable();
const RUN = randomBytes(4).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'tg-resources-'));

const CONFIG = (store: string) => `
store: "${store}"
resources:
  things:
    fields:
      id: { type: integer, min: 1 }
      name: { type: string, required: true, unique: true, max: 20 }
      size: { type: number, min: 0 }
      active: { type: boolean }
      made_at: { type: timestamp }
      data: { type: json }
    pageSize: 2
    maxPageSize: 3
  tags:
    key: code
    fields:
      code: { type: string }
      label: { type: string, required: true }
policies:
  reads: { cache: { ttl: 1m } }
routes:
  - match: { path: /things }
    resource: { name: things }
    policies: [reads]
  - match: { pattern: /things/:id }
    resource: { name: things }
    policies: [reads]
  - match: { pattern: /things/:id/data }
    resource: { name: things, field: data }
    policies: [reads]
  - match: { pattern: /things/:id/data-b }
    resource: { name: things, field: data.b }
  - match: { path: /tags }
    resource: { name: tags }
  - match: { pattern: /tags/:code }
    resource: { name: tags }
`;

const THINGS = [
  { id: 1, name: 'one', size: 1.5, active: true, made_at: '2021-01-21T04:53:38Z', data: { a: [1, 2], b: 'x' } },
  { id: 2, name: 'two', size: 2, active: false, made_at: '2021-01-21T06:53:38.250+02:00', data: null },
  { id: 3, name: 'three', size: 0.5, active: true },
];

const stores: [string, () => string | undefined][] = [
  ['sqlite', () => `sqlite:${join(dir, `things-${RUN}.db`)}`],
  ['postgres', () => (pgUrl ? `${pgUrl}?schema=tg_res_${RUN}` : undefined)],
];

afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
  if (pgUrl) {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`drop schema if exists tg_res_${RUN} cascade`);
    await c.end();
  }
});

describe.each(stores)('resource routes on %s', (dialect, storeUrl) => {
  const url = storeUrl();
  let gw: TestGateway;
  const at = (p: string) => `${gw.url}${p}`;
  const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(at(path), {
      method,
      headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });

  beforeAll(async () => {
    if (!url) return;
    const file = join(dir, `things-${dialect}.yaml`);
    writeFileSync(file, CONFIG(url));
    const data = join(dir, `things-${dialect}.json`);
    writeFileSync(data, JSON.stringify(THINGS));
    // Loaded before any gateway ran: load-data creates the table itself.
    const config = loadConfigFile(file).config;
    const r = await loadData({ resource: 'things', config: config.resources.things, storeUrl: url, file: data });
    expect(r.counts).toEqual({ inserted: 3, updated: 0, unchanged: 0 });
    gw = await startTestGateway(CONFIG(url));
  });

  it.skipIf(!url)('lists pages of page_size with count, absolute next/previous, and bounds', async () => {
    const first = await send('GET', '/things');
    expect(first.status).toBe(200);
    const body = (await first.json()) as { count: number; next: string | null; previous: string | null; results: { id: number }[] };
    expect(body.count).toBe(3);
    expect(body.results.map((r) => r.id)).toEqual([1, 2]);
    expect(body.previous).toBeNull();
    expect(body.next).toBe(`${gw.url}/things?page=2`);
    const second = (await (await fetch(body.next!)).json()) as typeof body;
    expect(second.results.map((r) => r.id)).toEqual([3]);
    expect(second.next).toBeNull();
    expect(second.previous).toBe(`${gw.url}/things`);
    const three = (await (await send('GET', '/things?page_size=3')).json()) as typeof body;
    expect(three.results).toHaveLength(3);
    const tooBig = await send('GET', '/things?page_size=4');
    expect(tooBig.status).toBe(400);
    expect(((await tooBig.json()) as { fields: Record<string, string> }).fields.page_size).toMatch(/1 to 3/);
    expect((await send('GET', '/things?page=9')).status).toBe(404);
  });

  it.skipIf(!url)('filters on declared fields and orders', async () => {
    const active = (await (await send('GET', '/things?active=true&page_size=3')).json()) as { count: number; results: { id: number }[] };
    expect(active.count).toBe(2);
    expect(active.results.map((r) => r.id)).toEqual([1, 3]);
    const bySize = (await (await send('GET', '/things?ordering=-size&page_size=3')).json()) as { results: { id: number }[] };
    expect(bySize.results.map((r) => r.id)).toEqual([2, 1, 3]);
    const bad = await send('GET', '/things?size=big');
    expect(bad.status).toBe(400);
    const err = (await bad.json()) as { code: string; fields: Record<string, string> };
    expect(err.code).toBe('TG_RESOURCE_INVALID');
    expect(err.fields.size).toMatch(/number/);
    expect((await send('GET', '/things?ordering=nope')).status).toBe(400);
  });

  it.skipIf(!url)('answers one record itself, timestamps as YYYY-MM-DDTHH:MM:SSZ, nested paths, 404', async () => {
    const two = await send('GET', '/things/2');
    expect(two.status).toBe(200);
    expect(await two.json()).toEqual({ id: 2, name: 'two', size: 2, active: false, made_at: '2021-01-21T04:53:38Z', data: null });
    expect(await (await send('GET', '/things/1/data')).json()).toEqual({ a: [1, 2], b: 'x' });
    expect(await (await send('GET', '/things/1/data-b')).json()).toBe('x');
    expect((await send('GET', '/things/2/data-b')).status).toBe(404);
    const missing = await send('GET', '/things/99');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe('TG_RESOURCE_NOT_FOUND');
    expect((await send('GET', '/things/abc')).status).toBe(404);
    const head = await send('HEAD', '/things/1');
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBeTruthy();
    expect(await head.text()).toBe('');
  });

  it.skipIf(!url)('ETag on GET; If-None-Match answers 304', async () => {
    const r = await send('GET', '/things/3');
    const etag = r.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await send('GET', '/things/3', undefined, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
  });

  it.skipIf(!url)('creates with 201, Location and the next integer id; 400 per field; 409 on a unique value', async () => {
    const r = await send('POST', '/things', { name: 'four', made_at: '2024-02-29T12:00:00Z' });
    expect(r.status).toBe(201);
    const created = (await r.json()) as { id: number };
    expect(created.id).toBe(4);
    expect(r.headers.get('location')).toBe(`${gw.url}/things/4`);
    expect(await (await fetch(r.headers.get('location')!)).json()).toMatchObject({ id: 4, name: 'four' });

    const bad = await send('POST', '/things', { size: -1, active: 'yes', color: 'red' });
    expect(bad.status).toBe(400);
    const err = (await bad.json()) as { fields: Record<string, string> };
    expect(Object.keys(err.fields).sort()).toEqual(['active', 'color', 'size']);
    const noName = await send('POST', '/things', { size: 1 });
    expect(((await noName.json()) as { fields: Record<string, string> }).fields).toEqual({ name: 'required' });

    const dup = await send('POST', '/things', { name: 'one' });
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { code: string; fields: Record<string, string> }).fields).toHaveProperty('name');
    expect((await send('POST', '/things', { id: 1, name: 'uno' })).status).toBe(409);
    expect((await send('POST', '/things', 'not json{')).status).toBe(400);
  });

  it.skipIf(!url)('concurrent creates each get their own next id', async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send('POST', '/things', { name: `burst-${i}` })));
    expect(answers.map((r) => r.status)).toEqual(Array(12).fill(201));
    const ids = await Promise.all(answers.map(async (r) => ((await r.json()) as { id: number }).id));
    expect(new Set(ids).size).toBe(12);
    for (const id of ids) expect((await send('DELETE', `/things/${id}`)).status).toBe(204);
  });

  it.skipIf(!url)('a created record with a string key gets a UUID', async () => {
    const r = await send('POST', '/tags', { label: 'red' });
    expect(r.status).toBe(201);
    const { code } = (await r.json()) as { code: string };
    expect(code).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.headers.get('location')).toBe(`${gw.url}/tags/${code}`);
  });

  it.skipIf(!url)('PUT replaces and PATCH updates; If-Match with a stale ETag gets 412 and changes nothing', async () => {
    const before = await send('GET', '/things/3');
    const etag = before.headers.get('etag')!;
    const put = await send('PUT', '/things/3', { name: 'three', size: 3 }, { 'if-match': etag });
    expect(put.status).toBe(200);
    const putEtag = put.headers.get('etag')!;
    expect(putEtag).not.toBe(etag);
    // Replaced: fields left out are null now.
    expect(await put.json()).toEqual({ id: 3, name: 'three', size: 3, active: null, made_at: null, data: null });

    const stale = await send('PATCH', '/things/3', { size: 4 }, { 'if-match': etag });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { code: string }).code).toBe('TG_PRECONDITION_FAILED');
    expect(((await (await send('GET', '/things/3')).json()) as { size: number }).size).toBe(3);

    const patch = await send('PATCH', '/things/3', { size: 4 }, { 'if-match': putEtag });
    expect(patch.status).toBe(200);
    expect(await patch.json()).toMatchObject({ id: 3, name: 'three', size: 4 });
    expect((await send('PATCH', '/things/3', { id: 5 })).status).toBe(400);
    expect((await send('PUT', '/things/3', { size: 1 })).status).toBe(400);
    expect((await send('PATCH', '/things/99', { size: 1 })).status).toBe(404);
    expect((await send('PATCH', '/things/3', { name: 'one' })).status).toBe(409);
  });

  it.skipIf(!url)('DELETE answers 204, then 404; a stale If-Match gets 412', async () => {
    const created = (await (await send('POST', '/things', { name: 'doomed' })).json()) as { id: number };
    const r = await send('GET', `/things/${created.id}`);
    await send('PATCH', `/things/${created.id}`, { size: 9 });
    expect((await send('DELETE', `/things/${created.id}`, undefined, { 'if-match': r.headers.get('etag')! })).status).toBe(412);
    const del = await send('DELETE', `/things/${created.id}`);
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect((await send('GET', `/things/${created.id}`)).status).toBe(404);
    expect((await send('DELETE', `/things/${created.id}`)).status).toBe(404);
  });

  it.skipIf(!url)('OPTIONS lists the methods in Allow; other methods get 405 with the same list', async () => {
    const o = await send('OPTIONS', '/things/1');
    expect(o.status).toBe(204);
    expect(o.headers.get('allow')!.split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'PUT']);
    const post = await send('POST', '/things/1', {});
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')!.split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'PUT']);
    expect((await send('PUT', '/things', {})).headers.get('allow')!.split(', ').sort()).toEqual(['GET', 'HEAD', 'OPTIONS', 'POST']);
    expect((await send('DELETE', '/things/1/data')).status).toBe(405);
  });

  it.skipIf(!url)('a write invalidates the cached record, its nested path and the list pages before it answers', async () => {
    // Warm the cache.
    await send('GET', '/things/1');
    await send('GET', '/things/1/data');
    await send('GET', '/things?page_size=3');
    const hit = await send('GET', '/things/1');
    expect(hit.headers.get('x-cache')).toBe('HIT');
    await hit.text();
    const patched = await send('PATCH', '/things/1', { name: 'uno', data: { a: [3] } });
    expect(patched.status).toBe(200);
    expect(((await (await send('GET', '/things/1')).json()) as { name: string }).name).toBe('uno');
    expect(await (await send('GET', '/things/1/data')).json()).toEqual({ a: [3] });
    const list = (await (await send('GET', '/things?page_size=3')).json()) as { results: { name: string }[] };
    expect(list.results[0].name).toBe('uno');
  });
});
