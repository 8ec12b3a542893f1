import { createHash, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';
import { redisAvailable } from './helpers/services.js';
import { cachedRoute, sleep, tempDir } from './helpers/cache.js';

const redisUrl = await redisAvailable();

afterEach(closeAll);

const MIB = 1024 * 1024;
const pattern = (size: number): Buffer => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE(i, i);
  return b;
};
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('cache: disk and tiered stores', () => {
  it('streams a large cacheable response to the client while writing it to disk, then serves it from disk', async () => {
    const dir = await tempDir();
    const body = pattern(24 * MIB);
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
      let off = 0;
      const pump = (): void => {
        while (off < body.length) {
          const chunk = body.subarray(off, off + 256 * 1024);
          off += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    }, `{ store: disk, dir: "${dir}" }`);
    const first = await send(gw.url, { path: '/big.bin' });
    expect(first.headers['x-cache']).toBe('MISS');
    expect(sha(first.body)).toBe(sha(body));
    await sleep(200);
    const second = await send(gw.url, { path: '/big.bin' });
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.headers['content-length']).toBe(String(body.length));
    expect(sha(second.body)).toBe(sha(body));
    expect(hits()).toBe(1);
  });

  it('serves a byte range from a complete entry, and passes Range requests through on a miss without storing', async () => {
    const dir = await tempDir();
    const body = pattern(200_000);
    const { gw, up, hits } = await cachedRoute((req, res) => {
      if (req.headers.range) {
        res.writeHead(206, { 'content-range': `bytes 0-9/${body.length}`, 'content-length': '10', 'cache-control': 'max-age=600' });
        res.end(body.subarray(0, 10));
        return;
      }
      res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(body.length) });
      res.end(body);
    }, `{ store: disk, dir: "${dir}" }`);
    const miss = await send(gw.url, { path: '/r.bin', headers: { range: 'bytes=0-9' } });
    expect(miss.status).toBe(206);
    expect(miss.headers['x-cache']).toBe('BYPASS');
    await send(gw.url, { path: '/r.bin' });
    await sleep(100);
    const part = await send(gw.url, { path: '/r.bin', headers: { range: 'bytes=1000-1999' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${body.length}`);
    expect(part.body.equals(body.subarray(1000, 2000))).toBe(true);
    expect(part.headers['x-cache']).toBe('HIT');
    const tail = await send(gw.url, { path: '/r.bin', headers: { range: 'bytes=-100' } });
    expect(tail.body.equals(body.subarray(body.length - 100))).toBe(true);
    const bad = await send(gw.url, { path: '/r.bin', headers: { range: `bytes=${body.length}-` } });
    expect(bad.status).toBe(416);
    expect(hits()).toBe(2);
    expect(up.requests[0].rawHeaders.map((h) => h.toLowerCase())).toContain('range');
  });

  it('keeps small bodies in memory and large ones on disk with store: tiered, and disk entries survive a restart', async () => {
    const dir = await tempDir();
    const big = pattern(3 * MIB);
    const up = await startUpstream((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' });
      res.end(req.url === '/big' ? big : 'small');
    });
    const yaml = `
upstreams:
  app: { url: "${up.url}" }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - cache: { store: tiered, dir: "${dir}", maxEntrySize: 64KiB }
`;
    let gw = await startTestGateway(yaml);
    await send(gw.url, { path: '/small' });
    await send(gw.url, { path: '/big' });
    await sleep(200);
    expect((await send(gw.url, { path: '/small' })).headers['x-cache']).toBe('HIT');
    expect(sha((await send(gw.url, { path: '/big' })).body)).toBe(sha(big));
    await gw.close();
    gw = await startTestGateway(yaml);
    const again = await send(gw.url, { path: '/big' });
    expect(again.headers['x-cache']).toBe('HIT');
    expect(sha(again.body)).toBe(sha(big));
    expect((await send(gw.url, { path: '/small' })).headers['x-cache']).toBe('MISS');
    expect(up.requests.filter((r) => r.url === '/big').length).toBe(1);
  });
});

describe.skipIf(!redisUrl)('cache: redis store shared by two gateways', () => {
  it('serves an entry filled by one gateway from another, and purges across both', async () => {
    const path = `/shared/${randomUUID()}`;
    const up = await startUpstream((req, res) => {
      if (req.method === 'DELETE') {
        res.writeHead(204);
        res.end();
        return;
      }
      res.writeHead(200, { 'cache-control': 'public, max-age=600' });
      res.end('from upstream');
    });
    const yaml = async (): Promise<string> => `
redis: "${redisUrl}"
upstreams:
  app: { url: "${up.url}" }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - cache: { store: redis, dir: "${await tempDir()}" }
`;
    const a = await startTestGateway(await yaml());
    const b = await startTestGateway(await yaml());
    await send(a.url, { path });
    await sleep(50);
    const fromB = await send(b.url, { path });
    expect(fromB.headers['x-cache']).toBe('HIT');
    expect(fromB.body.toString()).toBe('from upstream');
    await send(b.url, { path, method: 'DELETE' });
    expect((await send(a.url, { path })).headers['x-cache']).toBe('MISS');
    expect(up.requests.filter((r) => r.method === 'GET').length).toBe(2);
  });
});

describe('cache: store configuration', () => {
  it('fails the config when store: redis has no redis URL', async () => {
    await expect(
      startTestGateway(`
upstreams:
  app: { url: "http://127.0.0.1:9" }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - cache: { store: redis }
`),
    ).rejects.toThrow(/redis/);
  });
});
