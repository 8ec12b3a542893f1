/**
 * The admin API's consumer resources through a real gateway and SQLite store: services, plans, applications,
 * keys, users, usage; per resource the happy path and the errors (catalogue shape), and the proxy noticing
 * changes within a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startAdminGateway } from '../helpers/admin.js';
import type { AdminGateway } from '../helpers/admin.js';
import { send } from '../helpers/gateway.js';

let a: AdminGateway;
beforeAll(async () => {
  a = await startAdminGateway();
});
afterAll(async () => {
  await a.close();
});

/** Polls until `fn` is true or 1 s passed (the bound the issue promises). */
async function within1s(fn: () => Promise<boolean>): Promise<boolean> {
  const end = Date.now() + 1000;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const proxied = (key: string) => send(a.gw.url, { path: '/private/x', headers: { 'x-api-key': key } });

describe('services', () => {
  it('creates one (its token answered once), lists and shows it', async () => {
    const c = await a.api('POST', '/api/services', { id: 'books', name: 'Books' });
    expect(c.status).toBe(201);
    const created = c.json<{ id: string; token: string; hasToken: boolean }>();
    expect(created).toMatchObject({ id: 'books', name: 'Books', hasToken: true });
    expect(created.token).toMatch(/.{20,}/);
    const shown = await a.api('GET', '/api/services/books');
    expect(shown.status).toBe(200);
    expect(shown.json()).toMatchObject({ id: 'books', metrics: [{ name: 'hits' }], mappingRules: [] });
    expect(shown.body.toString()).not.toContain(created.token);
    const list = await a.api('GET', '/api/services');
    expect(list.json<{ results: { id: string }[] }>().results.map((s) => s.id)).toContain('books');
  });

  it('answers 404 for an unknown one and 409 for a duplicate id, in the catalogue shape', async () => {
    expect((await a.api('GET', '/api/services/nope')).json()).toEqual({ code: 'TG_NOT_FOUND', error: 'no service nope' });
    await a.api('POST', '/api/services', { id: 'dup', token: false });
    const dup = await a.api('POST', '/api/services', { id: 'dup' });
    expect(dup.status).toBe(409);
    expect(dup.json()).toMatchObject({ code: 'TG_CONFLICT' });
  });
});

describe('plans', () => {
  it('creates, replaces and shows a plan', async () => {
    const c = await a.api('POST', '/api/plans', { id: 'pro', name: 'Pro', limits: [{ metric: 'hits', period: 'minute', max: 5 }] });
    expect(c.status).toBe(201);
    const put = await a.api('PUT', '/api/plans/pro', { name: 'Pro', limits: [{ period: 'day', max: 100 }], throttles: [{ per: 'second', max: 2 }] });
    expect(put.status).toBe(200);
    expect((await a.api('GET', '/api/plans/pro')).json()).toMatchObject({ id: 'pro', limits: [{ metric: 'hits', period: 'day', max: 100 }], throttles: [{ per: 'second', max: 2 }] });
  });

  it('refuses a bad period with 400 TG_VALIDATION_FAILED naming the field', async () => {
    const r = await a.api('POST', '/api/plans', { id: 'bad', limits: [{ period: 'fortnight', max: 1 }] });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ code: 'TG_VALIDATION_FAILED', error: expect.stringContaining('period') });
    expect((await a.api('GET', '/api/plans/nope')).status).toBe(404);
  });
});

describe('applications and keys', () => {
  it('creates an application with a key shown once; the proxy accepts the key; list and show give hints only', async () => {
    const c = await a.api('POST', '/api/applications', { id: 'acme', planId: 'free', name: 'Acme', withKey: true });
    expect(c.status).toBe(201);
    const { application, key } = c.json<{ application: { id: string; state: string }; key: { secret: string; credential: { id: string; hint: string } } }>();
    expect(application).toMatchObject({ id: 'acme', state: 'active' });
    expect(await within1s(async () => (await proxied(key.secret)).status === 200)).toBe(true);
    const shown = await a.api('GET', '/api/applications/acme');
    expect(shown.json<{ credentials: { id: string }[] }>().credentials.map((k) => k.id)).toEqual([key.credential.id]);
    const keys = await a.api('GET', '/api/applications/acme/keys');
    expect(keys.status).toBe(200);
    for (const r of [shown, keys, await a.api('GET', '/api/applications'), await a.api('GET', `/api/keys/${key.credential.id}`)]) expect(r.body.toString()).not.toContain(key.secret);
  });

  it('suspends (403 at the proxy within 1 s) and resumes an application', async () => {
    expect((await a.api('POST', '/api/applications/demo/suspend')).json()).toMatchObject({ id: 'demo', state: 'suspended' });
    expect(await within1s(async () => (await proxied(DEMO_KEY)).status === 403)).toBe(true);
    expect((await a.api('POST', '/api/applications/demo/resume')).json()).toMatchObject({ state: 'active' });
    expect(await within1s(async () => (await proxied(DEMO_KEY)).status === 200)).toBe(true);
  });

  it('a key revoked through the admin API is refused by the proxy within 1 s', async () => {
    const k = (await a.api('POST', '/api/applications/demo/keys', { label: 'ci' })).json<{ id: string; secret: string; label: string }>();
    expect(k.label).toBe('ci');
    expect(await within1s(async () => (await proxied(k.secret)).status === 200)).toBe(true);
    const revoked = await a.api('POST', `/api/keys/${k.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.json<{ revokedAt: string | null }>().revokedAt).not.toBeNull();
    const t0 = Date.now();
    expect(await within1s(async () => (await proxied(k.secret)).status === 401)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500);
    // DELETE revokes too.
    const k2 = (await a.api('POST', '/api/applications/demo/keys', {})).json<{ id: string }>();
    expect((await a.api('DELETE', `/api/keys/${k2.id}`)).json<{ revokedAt: string | null }>().revokedAt).not.toBeNull();
  });

  it('creates a key with scopes through the admin API; the scopes are stored and shown', async () => {
    const k = (await a.api('POST', '/api/applications/demo/keys', { scopes: ['read'] })).json<{ id: string; scopes: string[] }>();
    expect(k.scopes).toEqual(['read']);
    expect((await a.api('GET', `/api/keys/${k.id}`)).json<{ scopes: string[] }>().scopes).toEqual(['read']);
    expect((await a.api('POST', '/api/applications/demo/keys', { scopes: ['bad scope'] })).status).toBe(400);
  });

  it('updates with PATCH; If-Match with a stale ETag answers 412 and changes nothing', async () => {
    const before = await a.api('GET', '/api/applications/acme');
    const etag = before.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);
    const ok = await a.api('PATCH', '/api/applications/acme', { name: 'Acme Ltd' }, { 'if-match': etag });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ name: 'Acme Ltd' });
    const stale = await a.api('PATCH', '/api/applications/acme', { name: 'Someone else' }, { 'if-match': etag });
    expect(stale.status).toBe(412);
    expect(stale.json()).toMatchObject({ code: 'TG_PRECONDITION_FAILED' });
    expect((await a.api('GET', '/api/applications/acme')).json()).toMatchObject({ name: 'Acme Ltd' });
  });

  it('deletes an application with its keys (the proxy refuses them within 1 s); a config-declared one is refused with 409', async () => {
    const { key } = (await a.api('POST', '/api/applications', { id: 'gone', planId: 'free', withKey: true })).json<{ key: { secret: string } }>();
    expect(await within1s(async () => (await proxied(key.secret)).status === 200)).toBe(true);
    const del = await a.api('DELETE', '/api/applications/gone');
    expect(del.status).toBe(200);
    expect(del.json()).toMatchObject({ id: 'gone' });
    expect(await within1s(async () => (await proxied(key.secret)).status === 401)).toBe(true);
    expect((await a.api('GET', '/api/applications/gone')).status).toBe(404);
    expect((await a.api('DELETE', '/api/applications/gone')).status).toBe(404);
    const declared = await a.api('DELETE', '/api/applications/demo');
    expect(declared.status).toBe(409);
    expect(declared.json()).toMatchObject({ code: 'TG_CONFLICT', error: expect.stringContaining('declared in the config') });
  });

  it('errors: unknown plan, unknown application, bad state, unknown field, bad JSON', async () => {
    expect((await a.api('POST', '/api/applications', { planId: 'nope' })).json()).toEqual({ code: 'TG_VALIDATION_FAILED', error: "plan 'nope' does not exist." });
    expect((await a.api('GET', '/api/applications/nope/keys')).json()).toEqual({ code: 'TG_NOT_FOUND', error: 'no application nope' });
    expect((await a.api('POST', '/api/applications/nope/suspend')).status).toBe(404);
    expect((await a.api('PATCH', '/api/applications/acme', { state: 'gone' })).json()).toMatchObject({ code: 'TG_VALIDATION_FAILED' });
    expect((await a.api('POST', '/api/applications', { planId: 'free', secret: 'x' })).status).toBe(400);
    expect((await a.api('POST', '/api/applications/acme/keys', { expires: 'soon' })).json()).toMatchObject({ code: 'TG_VALIDATION_FAILED', error: expect.stringContaining('duration') });
    const bad = await send(a.gw.adminUrl, { method: 'POST', path: '/api/applications', headers: { authorization: `Bearer ${'admin-token-0123456789abcdef'}`, 'content-type': 'application/json' }, body: '{"planId":' });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'TG_BAD_REQUEST' });
    expect((await a.api('POST', '/api/keys/nope/revoke')).status).toBe(404);
  });
});

describe('conventions', () => {
  it('paginates with page/page_size and count/next/previous/results', async () => {
    for (let i = 0; i < 5; i++) await a.api('POST', '/api/applications', { id: `page-${i}`, planId: 'free' });
    const p1 = (await a.api('GET', '/api/applications?plan=free&page_size=2')).json<{ count: number; next: string; previous: null; results: unknown[] }>();
    expect(p1.count).toBeGreaterThanOrEqual(6);
    expect(p1.results).toHaveLength(2);
    expect(p1.previous).toBeNull();
    expect(p1.next).toBe('/api/applications?plan=free&page_size=2&page=2');
    const p2 = (await a.api('GET', p1.next)).json<{ previous: string; results: unknown[] }>();
    expect(p2.previous).toBe('/api/applications?plan=free&page_size=2&page=1');
    expect((await a.api('GET', '/api/applications?page=0')).status).toBe(400);
    expect((await a.api('GET', '/api/applications?page_size=501')).status).toBe(400);
  });

  it('answers 304 to If-None-Match with the current ETag, 200 once it changed', async () => {
    const first = await a.api('GET', '/api/plans');
    const etag = first.headers.etag as string;
    const again = await a.api('GET', '/api/plans', undefined, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    await a.api('POST', '/api/plans', { id: `p-${Date.now()}` });
    expect((await a.api('GET', '/api/plans', undefined, { 'if-none-match': etag })).status).toBe(200);
  });
});

describe('users and usage', () => {
  it('creates a user (password never echoed), shows it by username, 409 on a duplicate', async () => {
    const c = await a.api('POST', '/api/users', { username: 'alice', password: 'correct horse battery', applicationId: 'demo' });
    expect(c.status).toBe(201);
    expect(c.body.toString()).not.toContain('correct horse');
    expect((await a.api('GET', '/api/users/alice')).json()).toMatchObject({ username: 'alice', applicationId: 'demo' });
    expect((await a.api('GET', '/api/users')).json<{ count: number }>().count).toBe(1);
    expect((await a.api('POST', '/api/users', { username: 'alice', password: 'another long password' })).status).toBe(409);
    expect((await a.api('POST', '/api/users', { username: 'bob' })).status).toBe(400);
    expect((await a.api('GET', '/api/users/nobody')).status).toBe(404);
  });

  it('reports usage per application, metric and period once the gateway flushed it', async () => {
    await a.api('POST', '/api/applications/demo/resume');
    for (let i = 0; i < 3; i++) await proxied(DEMO_KEY);
    let hits = 0;
    const end = Date.now() + 3000;
    while (Date.now() < end && hits < 3) {
      const rows = (await a.api('GET', '/api/usage?application=demo&period=day&metric=hits')).json<{ results: { metric: string; period: string; value: number }[] }>().results;
      hits = rows.find((r) => r.metric === 'hits' && r.period === 'day')?.value ?? 0;
      if (hits < 3) await new Promise((r) => setTimeout(r, 100));
    }
    expect(hits).toBeGreaterThanOrEqual(3);
    expect((await a.api('GET', '/api/usage?application=nope')).status).toBe(404);
    expect((await a.api('GET', '/api/usage')).json()).toMatchObject({ code: 'TG_VALIDATION_FAILED' });
    expect((await a.api('GET', '/api/usage?application=demo&period=fortnight')).status).toBe(400);
  });
});

describe('XML by Accept', () => {
  it('answers XML when Accept prefers it (with its own ETag), JSON otherwise, 406 for neither', async () => {
    const xml = await a.api('GET', '/api/plans/free', undefined, { accept: 'application/xml' });
    expect(xml.status).toBe(200);
    expect(xml.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(xml.headers.vary).toBe('Accept');
    expect(xml.body.toString()).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\s*<response><id>free<\/id>.*<limits><item><metric>hits<\/metric><period>day<\/period><max>1000<\/max><\/item><\/limits>/s);
    const json = await a.api('GET', '/api/plans/free', undefined, { accept: 'application/json, application/xml;q=0.5' });
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.headers.etag).not.toBe(xml.headers.etag);
    expect((await a.api('GET', '/api/plans/free', undefined, { accept: 'application/xml', 'if-none-match': xml.headers.etag as string })).status).toBe(304);
    // If-Match takes the ETag of the XML representation too.
    const pro = await a.api('GET', '/api/plans/pro', undefined, { accept: 'application/xml' });
    expect((await a.api('PUT', '/api/plans/pro', { name: 'Pro X' }, { 'if-match': pro.headers.etag as string })).status).toBe(200);
    expect((await a.api('PUT', '/api/plans/pro', { name: 'Pro 2' }, { 'if-match': pro.headers.etag as string })).status).toBe(412);
    const err = await a.api('GET', '/api/plans/nope', undefined, { accept: 'text/xml' });
    expect(err.status).toBe(404);
    expect(err.body.toString()).toContain('<code>TG_NOT_FOUND</code>');
    const none = await a.api('GET', '/api/plans', undefined, { accept: 'image/png' });
    expect(none.status).toBe(406);
    expect(none.json()).toMatchObject({ code: 'TG_NOT_ACCEPTABLE' });
    // Refused before the handler: nothing was created.
    expect((await a.api('POST', '/api/applications', { id: 'png', planId: 'free' }, { accept: 'image/png' })).status).toBe(406);
    expect((await a.api('GET', '/api/applications/png')).status).toBe(404);
  });
});
