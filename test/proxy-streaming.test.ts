/**
 * Bodies stream through the gateway in both directions with backpressure. The gateway runs in this
 * process, so RSS growth is a guard against buffering a whole body (generous bounds, not a benchmark).
 */
import { request } from 'node:http';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { chunks, closeAll, send, startTestGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';

afterEach(closeAll);

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** Writes `total` bytes with backpressure; returns how many the socket accepted so far. */
function produce(res: ServerResponse, total: number, onProgress?: (written: number) => void): void {
  const buf = Buffer.alloc(CHUNK, 0x7a);
  let written = 0;
  const pump = () => {
    while (written < total && !res.destroyed) {
      const n = Math.min(CHUNK, total - written);
      written += n;
      onProgress?.(written);
      if (!res.write(n === CHUNK ? buf : buf.subarray(0, n))) return void res.once('drain', pump);
    }
    if (written >= total) res.end();
  };
  pump();
}

/** Tracks the highest RSS seen while a transfer runs. */
function rssWatch() {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return {
    growthMiB() {
      peak = Math.max(peak, process.memoryUsage().rss);
      return (peak - base) / MiB;
    },
    stop: () => clearInterval(timer),
  };
}

async function gatewayFor(upstreamUrl: string) {
  return startTestGateway(`
upstreams:
  app: { url: "${upstreamUrl}" }
routes:
  - match: { prefix: / }
    upstream: app
    maxBodySize: 100MiB
`);
}

describe('streaming', () => {
  it('a 200 MB download streams through without the gateway holding it in memory', { timeout: 120_000 }, async () => {
    const total = 200 * MiB;
    const up = await startUpstream(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
        produce(res, total);
      },
      { stream: true },
    );
    const gw = await gatewayFor(up.url);
    const watch = rssWatch();
    const received = await new Promise<number>((resolve, reject) => {
      const req = request(gw.url + '/download', { agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (res.complete ? resolve(n) : reject(new Error('incomplete'))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    watch.stop();
    expect(received).toBe(total);
    expect(watch.growthMiB()).toBeLessThan(100);
  });

  it('a 50 MB upload streams to the upstream', { timeout: 60_000 }, async () => {
    const total = 50 * MiB;
    const up = await startUpstream(
      (req, res) => {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(String(n)));
      },
      { stream: true },
    );
    const gw = await gatewayFor(up.url);
    const watch = rssWatch();
    const r = await send(gw.url, {
      method: 'PUT',
      path: '/upload',
      headers: { 'content-type': 'application/octet-stream', 'content-length': total },
      body: chunks(total / CHUNK, CHUNK),
    });
    watch.stop();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(String(total));
    expect(watch.growthMiB()).toBeLessThan(100);
  });

  it('a 50 MB chunked upload (no content-length) streams to the upstream', { timeout: 60_000 }, async () => {
    const total = 50 * MiB;
    const up = await startUpstream(
      (req, res) => {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(String(n)));
      },
      { stream: true },
    );
    const gw = await gatewayFor(up.url);
    const r = await send(gw.url, { method: 'POST', path: '/upload', body: chunks(total / CHUNK, CHUNK) });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(String(total));
  });

  it('a client that stops reading makes the upstream wait instead of the gateway buffering', { timeout: 30_000 }, async () => {
    const total = 100 * MiB;
    let upstreamWritten = 0;
    const up = await startUpstream(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
        produce(res, total, (w) => (upstreamWritten = w));
      },
      { stream: true },
    );
    const gw = await gatewayFor(up.url);
    const watch = rssWatch();
    const req = request(gw.url + '/slow-reader', { agent: false });
    req.on('error', () => undefined);
    let clientGot = 0;
    const started = new Promise<void>((resolve) =>
      req.on('response', (res) => {
        res.once('data', (c: Buffer) => {
          clientGot += c.length;
          res.pause();
          resolve();
        });
      }),
    );
    req.end();
    await started;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    watch.stop();
    const growth = watch.growthMiB();
    const upstreamMiB = upstreamWritten / MiB;
    req.destroy();
    // Socket buffers on loopback hold a few MiB per hop; the rest must still be waiting in the upstream.
    expect(upstreamMiB).toBeLessThan(50);
    // Generous: a cold process grows by a few tens of MiB just warming up (JIT, undici, first buffers).
    expect(growth).toBeLessThan(80);
    expect(clientGot).toBeGreaterThan(0);
  });

  it('when the client goes away mid-download the upstream request is aborted', { timeout: 30_000 }, async () => {
    let upstreamClosed = false;
    const up = await startUpstream(
      (_req, res) => {
        res.once('close', () => (upstreamClosed = true));
        res.writeHead(200, { 'content-length': 100 * MiB });
        produce(res, 100 * MiB);
      },
      { stream: true },
    );
    const gw = await gatewayFor(up.url);
    await new Promise<void>((resolve) => {
      const req = request(gw.url + '/abandon', { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.end();
    });
    for (let i = 0; i < 100 && !upstreamClosed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(upstreamClosed).toBe(true);
  });
});
