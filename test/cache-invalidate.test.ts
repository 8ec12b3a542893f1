import type { IncomingMessage, ServerResponse } from 'node:http';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';
import { runCli } from './helpers/cli.js';
import { cachedRoute, sleep, tempDir } from './helpers/cache.js';

afterEach(closeAll);

let version = 0;
const versioned = (extra: Record<string, string> = {}) => (req: IncomingMessage, res: ServerResponse) => {
  if (req.method !== 'GET') {
    version++;
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    res.end('{"saved":true}');
    return;
  }
  res.writeHead(200, { 'cache-control': 'public, max-age=600', ...extra });
  res.end(JSON.stringify({ url: req.url, version }));
};

describe('cache: invalidation on writes', () => {
  it('invalidates the same path (with any query) before the write answer reaches the client', async () => {
    const { gw, hits } = await cachedRoute(versioned());
    await send(gw.url, { path: '/items' });
    await send(gw.url, { path: '/items?page=2' });
    await send(gw.url, { path: '/other' });
    const write = await send(gw.url, { path: '/items', method: 'POST', body: '{}' });
    expect(write.status).toBe(201);
    // Right after the write's answer: the next reads go upstream and see the new version.
    const list = await send(gw.url, { path: '/items' });
    const page = await send(gw.url, { path: '/items?page=2' });
    const other = await send(gw.url, { path: '/other' });
    expect(list.headers['x-cache']).toBe('MISS');
    expect(page.headers['x-cache']).toBe('MISS');
    expect(other.headers['x-cache']).toBe('HIT');
    expect(hits('/items')).toBe(2 + 1);
  });

  it('invalidates configured related paths and prefixes, with :params from the route pattern', async () => {
    const up = await startUpstream(versioned());
    const gw = await startTestGateway(`
upstreams:
  app: { url: "${up.url}" }
routes:
  - name: sprocket
    match: { pattern: /api/sprocket/:id }
    upstream: app
    policies:
      - cache: { invalidate: [/api/sprockets, "/api/sprocket/:id/*"] }
  - name: api
    match: { prefix: /api/ }
    upstream: app
    policies: [cache]
`);
    for (const p of ['/api/sprockets', '/api/sprocket/3', '/api/sprocket/3/chart', '/api/sprocket/4/chart']) await send(gw.url, { path: p });
    await send(gw.url, { path: '/api/sprocket/3', method: 'PUT', body: '{}' });
    const after = await Promise.all(['/api/sprockets', '/api/sprocket/3', '/api/sprocket/3/chart', '/api/sprocket/4/chart'].map((p) => send(gw.url, { path: p })));
    expect(after.map((r) => r.headers['x-cache'])).toEqual(['MISS', 'MISS', 'MISS', 'HIT']);
  });

  it('does not invalidate on a failed write', async () => {
    const { gw } = await cachedRoute((req, res) => {
      if (req.method === 'DELETE') {
        res.writeHead(500);
        res.end();
        return;
      }
      res.writeHead(200, { 'cache-control': 'max-age=600' });
      res.end('x');
    });
    await send(gw.url, { path: '/keep' });
    await send(gw.url, { path: '/keep', method: 'DELETE' });
    const r = await send(gw.url, { path: '/keep' });
    expect(r.headers['x-cache']).toBe('HIT');
  });

  it('never passes tag headers to clients', async () => {
    const { gw } = await cachedRoute(versioned({ 'surrogate-key': 'a b' }));
    const r = await send(gw.url, { path: '/t' });
    expect(r.headers['surrogate-key']).toBeUndefined();
  });
});

describe('tollgate cache purge | stats (disk store)', () => {
  async function diskGateway() {
    const dir = await tempDir();
    const up = await startUpstream(versioned({ 'surrogate-key': 'release-1 all' }));
    const file = join(dir, 'tollgate.yaml');
    await writeFile(
      file,
      `upstreams:
  app: { url: "${up.url}" }
routes:
  - name: r
    match: { prefix: / }
    upstream: app
    policies:
      - cache: { store: disk, dir: ./cache }
`,
    );
    const gw = await startTestGateway('', { configFile: file });
    return { dir, file, gw, up };
  }

  it('purges one URL, a prefix and a tag from the disk store; the gateway then misses', async () => {
    const { file, gw, up } = await diskGateway();
    for (const p of ['/releases/1', '/releases/2', '/images/a.jpg', '/images/b.jpg', '/q?x=1']) await send(gw.url, { path: p });
    await sleep(100);
    const one = await runCli(['cache', 'purge', '/releases/1', '-c', file]);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/purged 1 entry/);
    const prefix = await runCli(['cache', 'purge', '--prefix', '/images/', '-c', file]);
    expect(prefix.stdout).toMatch(/purged 2 entries/);
    expect((await send(gw.url, { path: '/releases/1' })).headers['x-cache']).toBe('MISS');
    expect((await send(gw.url, { path: '/releases/2' })).headers['x-cache']).toBe('HIT');
    expect((await send(gw.url, { path: '/images/a.jpg' })).headers['x-cache']).toBe('MISS');
    const tag = await runCli(['cache', 'purge', '--tag', 'all', '-c', file]);
    expect(tag.stdout).toMatch(/purged \d+ entries/);
    expect((await send(gw.url, { path: '/q?x=1' })).headers['x-cache']).toBe('MISS');
    expect(up.requests.length).toBeGreaterThan(5);
  });

  it('prints entries, bytes and the hit ratio', async () => {
    const { file, gw } = await diskGateway();
    await send(gw.url, { path: '/a' });
    await sleep(100); // the disk commit finishes after the answer
    await send(gw.url, { path: '/a' });
    await send(gw.url, { path: '/a' });
    await send(gw.url, { path: '/b' });
    await gw.close(); // flushes the counters
    const r = await runCli(['cache', 'stats', '-c', file, '--json']);
    expect(r.code).toBe(0);
    const [row] = JSON.parse(r.stdout) as { entries: number; bytes: number; hitRatio: number; hit: number; miss: number }[];
    expect(row.entries).toBe(2);
    expect(row.bytes).toBeGreaterThan(0);
    expect(row.hit).toBe(2);
    expect(row.miss).toBe(2);
    expect(row.hitRatio).toBe(0.5);
    const text = await runCli(['cache', 'stats', '-c', file]);
    expect(text.stdout).toMatch(/2 entries, .*hit ratio 50\.0%/);
  });

  it('keeps credentials out of cache keys on disk', async () => {
    const { dir, gw } = await diskGateway();
    await send(gw.url, { path: '/s?api_key=SUPERSECRET123&q=1' });
    const files = await readdir(join(dir, 'cache'), { recursive: true });
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      expect(await readFile(join(dir, 'cache', f), 'utf8')).not.toContain('SUPERSECRET123');
    }
  });
});
