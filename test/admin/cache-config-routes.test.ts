/**
 * The admin API's read-outs and cache control through a real gateway: /api/cache (the running memory store:
 * stats, purge by URL/prefix/tag), /api/config (live, every secret redacted), /api/routes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, DEMO_KEY, startAdminGateway } from '../helpers/admin.js';
import type { AdminGateway } from '../helpers/admin.js';
import { send } from '../helpers/gateway.js';

const ENV_SECRET = 'upstream-secret-from-env-42';
let a: AdminGateway;
beforeAll(async () => {
  a = await startAdminGateway({
    env: { UPSTREAM_TOKEN: ENV_SECRET },
    extra: 'redis: { url: "redis://:redis-pass-99@127.0.0.1:6379" }',
    routes: `  - name: private
    match: { prefix: /private/ }
    upstream: app
    policies:
      - auth: { apiKey: { header: x-api-key } }
  - name: cached
    match: { prefix: /cached/ }
    upstream: app
    policies: [{ cache: { store: memory } }]
  - name: static
    match: { prefix: /static }
    respond: { status: 200, headers: { x-note: "\${UPSTREAM_TOKEN}" } }`,
  });
});
afterAll(async () => {
  await a.close();
});

type Stats = { results: { store: string; kind: string; entries: number; hit: number; miss: number }[] };

async function fill(paths: string[]): Promise<void> {
  for (const p of paths) {
    expect((await send(a.gw.url, { path: p })).status).toBe(200);
    expect((await send(a.gw.url, { path: p })).headers['x-cache'] ?? 'HIT').toMatch(/HIT/);
  }
}

describe('/api/cache', () => {
  it('shows the running memory store and purges one URL, then a prefix', async () => {
    await fill(['/cached/a', '/cached/b?x=1', '/cached/sub/c']);
    const st = (await a.api('GET', '/api/cache')).json<Stats>().results;
    expect(st).toEqual([expect.objectContaining({ store: 'memory', kind: 'memory', entries: 3, hit: 3, miss: 3 })]);
    const one = await a.api('POST', '/api/cache/purge', { url: '/cached/a' });
    expect(one.json()).toEqual({ purged: 1, stores: [{ store: 'memory', kind: 'memory', purged: 1 }] });
    expect((await a.api('GET', '/api/cache')).json<Stats>().results[0].entries).toBe(2);
    expect((await a.api('POST', '/api/cache/purge', { prefix: '/cached/' })).json()).toMatchObject({ purged: 2 });
    expect((await a.api('GET', '/api/cache')).json<Stats>().results[0].entries).toBe(0);
  });

  it('refuses a purge that names nothing, and needs the token', async () => {
    expect((await a.api('POST', '/api/cache/purge', {})).json()).toMatchObject({ code: 'TG_VALIDATION_FAILED', error: 'give url, prefix or tag' });
    expect((await send(a.gw.adminUrl, { method: 'POST', path: '/api/cache/purge', headers: { 'content-type': 'application/json' }, body: '{"prefix":"/"}' })).status).toBe(401);
  });
});

describe('/api/config and /api/routes', () => {
  it('shows the live config with every secret redacted: admin token, declared keys, ${VAR} secrets, URL passwords', async () => {
    const r = await a.api('GET', '/api/config');
    expect(r.status).toBe(200);
    const text = r.body.toString();
    for (const secret of [ADMIN_TOKEN, DEMO_KEY, ENV_SECRET, 'redis-pass-99']) expect(text).not.toContain(secret);
    const c = r.json<{ admin: { token: string }; applications: { id: string; keys: string[] }[]; redis: { url: string }; routes: { name: string }[] }>();
    expect(c.admin.token).toBe('[redacted]');
    expect(c.applications[0]).toMatchObject({ id: 'demo', keys: ['[redacted]'] });
    expect(c.redis.url).toBe('redis://:[redacted]@127.0.0.1:6379');
    expect(c.routes.map((x) => x.name)).toEqual(['private', 'cached', 'static']);
  });

  it('lists the routes in match order with their description, secrets redacted', async () => {
    const r = await a.api('GET', '/api/routes');
    const page = r.json<{ count: number; results: { name: string; describe: string }[] }>();
    expect(page.count).toBe(3);
    expect(page.results.map((x) => x.name)).toEqual(['private', 'cached', 'static']);
    expect(page.results[1].describe).toContain('cache');
    expect(r.body.toString()).not.toContain(ENV_SECRET);
  });
});

describe('/api/cache with a disk store', () => {
  it("purges through the gateway's own disk store: the next request is a miss again", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'tollgate-admin-disk-'));
    const d = await startAdminGateway({
      routes: `  - name: disk
    match: { prefix: /d/ }
    upstream: app
    policies: [{ cache: { store: disk, dir: "${cacheDir}" } }]`,
    });
    const entries = async () => (await d.api('GET', '/api/cache')).json<{ results: { kind: string; entries: number }[] }>().results[0]?.entries ?? 0;
    const filled = async () => {
      for (let end = Date.now() + 2000; Date.now() < end && (await entries()) < 1; ) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      expect((await send(d.gw.url, { path: '/d/x' })).headers['x-cache']).toBe('MISS');
      await filled();
      expect((await d.api('GET', '/api/cache')).json<{ results: unknown[] }>().results).toEqual([expect.objectContaining({ kind: 'disk', entries: 1 })]);
      expect((await send(d.gw.url, { path: '/d/x' })).headers['x-cache']).toBe('HIT');
      expect((await d.api('POST', '/api/cache/purge', { url: 'http://gateway.example/d/x' })).json()).toMatchObject({ purged: 1 });
      expect(await entries()).toBe(0);
      expect((await send(d.gw.url, { path: '/d/x' })).headers['x-cache']).toBe('MISS');
    } finally {
      await d.close();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
