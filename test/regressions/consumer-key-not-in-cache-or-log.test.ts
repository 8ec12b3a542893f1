/**
 * A consumer's key presented where the route's auth policy reads it (a query parameter or header of any
 * name, not only the cache's built-in secret list) never lands in clear in a cache key, in the disk store's
 * files, or in the access log.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

const KEY = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-cred-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(closeAll);

function allFiles(d: string): string[] {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

/** Everything the disk store wrote, once it has written the entry for `path`. */
async function storedText(cacheDir: string, path: string): Promise<string> {
  const until = Date.now() + 2000;
  for (;;) {
    const text = allFiles(cacheDir)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('\n');
    if (text.includes(path) || Date.now() > until) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function boot(auth: string, cacheKey = '{}') {
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end('{"ok":true}');
  });
  const sub = join(dir, Math.random().toString(36).slice(2));
  const gw = await startTestGateway(
    `
store: "sqlite:${join(sub + '.db')}"
upstreams: { app: { url: "${up.url}" } }
plans: { free: { limits: { hits: [{ per: day, max: 1000 }] } } }
applications:
  - { id: alice, plan: free, keys: ["${KEY}"] }
  - { id: bob, plan: free, keys: ["${BOB}"] }
routes:
  - match: { prefix: /cq/ }
    upstream: app
    policies:
      - cache: { store: disk, dir: "${sub}", key: ${cacheKey} }
      - auth: ${auth}
`,
    { logs: true },
  );
  return { up, gw, cacheDir: sub };
}

describe("a consumer's key in a cache key, the disk store and the access log", () => {
  it('a query parameter of any name is hashed in the key and redacted in the log', async () => {
    const { up, gw, cacheDir } = await boot('{ apiKey: { query: access } }');
    const a = await send(gw.url, { path: `/cq/api/c1?access=${KEY}&x=1` });
    expect(a.status).toBe(200);
    expect(a.headers['x-cache']).toBe('MISS');
    const stored = await storedText(cacheDir, '/cq/api/c1');
    expect(stored).toContain('/cq/api/c1');
    expect(stored).not.toContain(KEY);
    // Hashing is stable: the same key finds the entry; another consumer does not.
    expect((await send(gw.url, { path: `/cq/api/c1?access=${KEY}&x=1` })).headers['x-cache']).toBe('HIT');
    expect((await send(gw.url, { path: `/cq/api/c1?access=${BOB}&x=1` })).headers['x-cache']).toBe('MISS');
    expect(up.requests).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 120)); // the access log is flushed every 50 ms
    const logged = JSON.stringify(gw.logs);
    expect(logged).toContain('/cq/api/c1');
    expect(logged).not.toContain(KEY);
    expect(logged).not.toContain(BOB);
  });

  it('a header of any name named in key.headers is hashed, also when forwarded upstream', async () => {
    const { gw, cacheDir } = await boot('{ apiKey: { header: x-consumer-token }, forwardCredentials: true }', '{ headers: [x-consumer-token] }');
    const a = await send(gw.url, { path: '/cq/api/h1', headers: { 'x-consumer-token': KEY } });
    expect(a.status).toBe(200);
    const stored = await storedText(cacheDir, '/cq/api/h1');
    expect(stored).toContain('/cq/api/h1');
    expect(stored).not.toContain(KEY);
    expect((await send(gw.url, { path: '/cq/api/h1', headers: { 'x-consumer-token': KEY } })).headers['x-cache']).toBe('HIT');
  });
});
