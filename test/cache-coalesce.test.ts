import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send } from './helpers/gateway.js';
import { cachedRoute, sleep } from './helpers/cache.js';

afterEach(closeAll);

/** A GET whose body chunks are reported as they arrive. */
function streamingGet(base: string, path: string, onChunk?: (c: Buffer) => void): { done: Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>; abort(): void } {
  const u = new URL(base);
  let abort = (): void => {};
  const done = new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        onChunk?.(c);
      });
      res.on('end', () => (res.complete ? resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) : reject(new Error('incomplete'))));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('aborted')));
    });
    req.on('error', reject);
    abort = () => req.destroy();
    req.end();
  });
  return { done, abort };
}

describe('cache: coalescing', () => {
  it('sends 100 concurrent misses for one URL to the upstream once, and streams the body to all of them as it arrives', async () => {
    let releaseRest!: () => void;
    const rest = new Promise<void>((r) => (releaseRest = r));
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'public, max-age=60', 'content-type': 'text/plain' });
      res.write('first-part;');
      void rest.then(() => res.end('second-part'));
    });
    let firstChunks = 0;
    const clients = Array.from({ length: 100 }, () => streamingGet(gw.url, '/slow', () => firstChunks++));
    // Every client sees the first part while the upstream still holds the rest back.
    for (let i = 0; i < 200 && firstChunks < 100; i++) await sleep(10);
    expect(firstChunks).toBeGreaterThanOrEqual(100);
    expect(hits('/slow')).toBe(1);
    releaseRest();
    const results = await Promise.all(clients.map((c) => c.done));
    expect(hits('/slow')).toBe(1);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('first-part;second-part');
    }
    const collapsed = results.filter((r) => String(r.headers['cache-status']).includes('collapsed'));
    expect(collapsed.length).toBe(99);
    const after = await send(gw.url, { path: '/slow' });
    expect(after.headers['x-cache']).toBe('HIT');
    expect(hits('/slow')).toBe(1);
  });

  it('keeps filling for the others when the first client disconnects mid-download', async () => {
    let releaseRest!: () => void;
    const rest = new Promise<void>((r) => (releaseRest = r));
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'public, max-age=60', 'content-length': String(11 + 65536) });
      res.write('first-part;');
      void rest.then(() => res.end(Buffer.alloc(65536, 'z')));
    });
    let gotFirst = false;
    const leaver = streamingGet(gw.url, '/big', () => (gotFirst = true));
    leaver.done.catch(() => undefined);
    for (let i = 0; i < 200 && !gotFirst; i++) await sleep(10);
    const stayer = streamingGet(gw.url, '/big');
    await sleep(50);
    leaver.abort();
    await sleep(50);
    releaseRest();
    const r = await stayer.done;
    expect(r.body.length).toBe(11 + 65536);
    const after = await send(gw.url, { path: '/big' });
    expect(after.headers['x-cache']).toBe('HIT');
    expect(after.body.length).toBe(11 + 65536);
    expect(hits('/big')).toBe(1);
  });

  it('never stores a body cut short by an upstream failure, and the clients see the failure', async () => {
    let calls = 0;
    const { gw, hits } = await cachedRoute((_req, res) => {
      calls++;
      res.writeHead(200, { 'cache-control': 'public, max-age=60', 'content-length': '1000' });
      if (calls === 1) {
        res.write('only a part');
        setTimeout(() => res.socket?.destroy(), 20);
      } else {
        res.end(Buffer.alloc(1000, 'k'));
      }
    });
    await expect(send(gw.url, { path: '/cut' })).rejects.toThrow();
    const second = await send(gw.url, { path: '/cut' });
    expect(second.headers['x-cache']).toBe('MISS');
    expect(second.body.length).toBe(1000);
    expect(hits('/cut')).toBe(2);
  });

  it('shares an upstream failure with the waiters instead of sending each of them upstream', async () => {
    const { gw, hits } = await cachedRoute((_req, res) => {
      setTimeout(() => {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('down');
      }, 100);
    });
    const results = await Promise.all(Array.from({ length: 10 }, () => send(gw.url, { path: '/flaky' })));
    expect(results.every((r) => r.status === 503 && r.body.toString() === 'down')).toBe(true);
    expect(hits('/flaky')).toBe(1);
  });

  it('lets waiters of a private response go upstream themselves', async () => {
    const { gw, hits } = await cachedRoute((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'cache-control': 'private' });
        res.end('yours');
      }, 50);
    });
    const results = await Promise.all(Array.from({ length: 5 }, () => send(gw.url, { path: '/private' })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(hits('/private')).toBe(5);
  });
});
