import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import { cachedRoute, sleep } from './helpers/cache.js';
import { startUpstream } from './helpers/upstream.js';

afterEach(closeAll);

describe('cache: conditional requests and revalidation', () => {
  it("answers a client's If-None-Match with 304 from the cache", async () => {
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"v1"' });
      res.end('body');
    });
    const first = await send(gw.url, { path: '/e' });
    expect(first.headers.etag).toBe('"v1"');
    const cond = await send(gw.url, { path: '/e', headers: { 'if-none-match': '"v1"' } });
    expect(cond.status).toBe(304);
    expect(cond.body.length).toBe(0);
    expect(cond.headers.etag).toBe('"v1"');
    expect(cond.headers['x-cache']).toBe('HIT');
    const other = await send(gw.url, { path: '/e', headers: { 'if-none-match': '"v0"' } });
    expect(other.status).toBe(200);
    expect(hits()).toBe(1);
  });

  it('answers If-Modified-Since with 304 from the cache', async () => {
    const lm = new Date(Date.now() - 3_600_000).toUTCString();
    const { gw } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'last-modified': lm });
      res.end('body');
    });
    await send(gw.url, { path: '/m' });
    const cond = await send(gw.url, { path: '/m', headers: { 'if-modified-since': new Date().toUTCString() } });
    expect(cond.status).toBe(304);
  });

  it('revalidates a stale entry with its stored validators, and a 304 refreshes it', async () => {
    const { gw, up, hits } = await cachedRoute((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { 'cache-control': 'max-age=60', etag: '"v1"' });
        res.end();
        return;
      }
      res.writeHead(200, { 'cache-control': 'max-age=1', etag: '"v1"' });
      res.end('the body');
    });
    await send(gw.url, { path: '/r' });
    await sleep(1100);
    const again = await send(gw.url, { path: '/r' });
    expect(again.status).toBe(200);
    expect(again.body.toString()).toBe('the body');
    expect(again.headers['x-cache']).toBe('REVALIDATED');
    expect(again.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304; ttl=(59|60)/);
    const sent = up.requests[1].rawHeaders;
    expect(sent.map((h) => h.toLowerCase())).toContain('if-none-match');
    const third = await send(gw.url, { path: '/r' });
    expect(third.headers['x-cache']).toBe('HIT');
    expect(hits()).toBe(2);
  });

  it('generates a strong ETag for cacheable bodies without one when etag: true', async () => {
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'application/json', 'content-length': '11' });
      res.end('{"ok":true}');
    }, '{ etag: true }');
    const first = await send(gw.url, { path: '/g' });
    const etag = first.headers.etag;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const hit = await send(gw.url, { path: '/g' });
    expect(hit.headers.etag).toBe(etag);
    const cond = await send(gw.url, { path: '/g', headers: { 'if-none-match': String(etag) } });
    expect(cond.status).toBe(304);
    expect(hits()).toBe(1);
  });

  it('generates the ETag for streamed bodies of unknown length once they are stored', async () => {
    const { gw } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.write('part one, ');
      res.end('part two');
    }, '{ etag: true }');
    await send(gw.url, { path: '/chunked' });
    await sleep(20);
    const hit = await send(gw.url, { path: '/chunked' });
    expect(hit.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const cond = await send(gw.url, { path: '/chunked', headers: { 'if-none-match': String(hit.headers.etag) } });
    expect(cond.status).toBe(304);
  });

  it('revalidates upstream when the client sends Cache-Control: no-cache', async () => {
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end('x');
    });
    await send(gw.url, { path: '/n' });
    const forced = await send(gw.url, { path: '/n', headers: { 'cache-control': 'no-cache' } });
    expect(forced.headers['cache-status']).toContain('fwd=request');
    expect(hits()).toBe(2);
  });
});

describe('cache: stale-if-error and stale-while-revalidate (RFC 5861)', () => {
  it('serves a stale entry, marked by Age and Cache-Status, when the upstream answers 5xx or 429', async () => {
    let status = 200;
    const { gw } = await cachedRoute((_req, res) => {
      res.writeHead(status, { 'cache-control': 'max-age=1' });
      res.end(status === 200 ? 'good' : 'bad');
    }, '{ staleIfError: 1h }');
    await send(gw.url, { path: '/s' });
    await sleep(1100);
    for (const s of [503, 429]) {
      status = s;
      const r = await send(gw.url, { path: '/s' });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('good');
      expect(r.headers['x-cache']).toBe('STALE');
      expect(r.headers['cache-status']).toMatch(new RegExp(`fwd=stale; fwd-status=${s}; ttl=-\\d+; detail=stale-if-error`));
      expect(Number(r.headers.age)).toBeGreaterThanOrEqual(1);
    }
  });

  it('serves a stale entry when the upstream is down', async () => {
    const { gw, up } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=3600' });
      res.end('good');
    });
    await send(gw.url, { path: '/d' });
    await up.close();
    await sleep(1100);
    const r = await send(gw.url, { path: '/d' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('good');
    expect(r.headers['x-cache']).toBe('STALE');
  });

  it('does not serve stale on error past the window, or when the upstream said must-revalidate', async () => {
    let status = 200;
    const { gw } = await cachedRoute((_req, res) => {
      res.writeHead(status, { 'cache-control': 'max-age=1, must-revalidate' });
      res.end(status === 200 ? 'good' : 'bad');
    }, '{ staleIfError: 1h }');
    await send(gw.url, { path: '/mr' });
    await sleep(1100);
    status = 503;
    const r = await send(gw.url, { path: '/mr' });
    expect(r.status).toBe(503);
  });

  it('answers stale at once and refreshes the entry in the background', async () => {
    let version = 1;
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60' });
      res.end(`v${version}`);
    });
    await send(gw.url, { path: '/w' });
    await sleep(1100);
    version = 2;
    const stale = await send(gw.url, { path: '/w' });
    expect(stale.body.toString()).toBe('v1');
    expect(stale.headers['x-cache']).toBe('STALE');
    expect(stale.headers['cache-status']).toContain('detail=stale-while-revalidate');
    for (let i = 0; i < 100 && hits() < 2; i++) await sleep(10);
    await sleep(50);
    const refreshed = await send(gw.url, { path: '/w' });
    expect(refreshed.body.toString()).toBe('v2');
    expect(refreshed.headers['x-cache']).toBe('HIT');
    expect(hits()).toBe(2);
  });

  it('refreshes through the policies after the cache, in-process: the refresh carries upstream credentials and is no client request', async () => {
    let version = 1;
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60' });
      res.end(`v${version}`);
    });
    const gw = await startTestGateway(
      `upstreams:\n  app: { url: "${up.url}" }\nroutes:\n  - match: { prefix: / }\n    upstream: app\n    policies:\n      - cache: {}\n      - credentials: { headers: { x-api-key: up-key-0123456789 } }\n`,
      { logs: true },
    );
    await send(gw.url, { path: '/c' });
    await sleep(1100);
    version = 2;
    const stale = await send(gw.url, { path: '/c', headers: { 'if-none-match': '"nope"', 'cache-control': 'max-stale=100' } });
    expect(stale.body.toString()).toBe('v1');
    for (let i = 0; i < 100 && up.requests.length < 2; i++) await sleep(10);
    await sleep(50);
    expect(up.requests).toHaveLength(2);
    const sent = up.requests[1].rawHeaders.map((h) => h.toLowerCase());
    expect(sent).toContain('x-api-key');
    expect(sent).not.toContain('if-none-match');
    const refreshed = await send(gw.url, { path: '/c' });
    expect(refreshed.body.toString()).toBe('v2');
    expect(refreshed.headers['x-cache']).toBe('HIT');
    await sleep(120);
    // Three requests from the client; the refresh never went through the listener (no fourth access log line).
    expect(gw.logs.filter((l) => l.msg === 'request').map((l) => l.url)).toEqual(['/c', '/c', '/c']);
  });
});
