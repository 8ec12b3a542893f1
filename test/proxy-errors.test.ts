import { afterEach, describe, expect, it } from 'vitest';
import { chunks, closeAll, rawRequest, send, startTestGateway } from './helpers/gateway.js';
import type { SendResult } from './helpers/gateway.js';
import { closedPort, startUpstream } from './helpers/upstream.js';
import type { Answer } from './helpers/upstream.js';

afterEach(closeAll);

/** The one error shape: status, JSON {error, code, requestId}, and the same id in x-request-id. */
function expectError(r: SendResult, status: number, code: string): void {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json<{ error: unknown; code: unknown; requestId: unknown }>();
  expect(body.code).toBe(code);
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeGreaterThan(0);
  expect(body.requestId).toBe(r.headers['x-request-id']);
  expect(r.headers['x-request-id']).toBeTruthy();
}

async function behind(answer: Answer, upstreamExtra = '', routeExtra = '') {
  const up = await startUpstream(answer);
  const gw = await startTestGateway(`
upstreams:
  app:
    url: ${up.url}
${upstreamExtra.replace(/^/gm, '    ')}
routes:
  - match: { prefix: / }
    upstream: app
${routeExtra.replace(/^/gm, '    ')}
`);
  return { up, gw };
}

const hangUp: Answer = (req) => req.socket.destroy();

describe('requests the gateway refuses itself', () => {
  it('a path no route matches gets 404', async () => {
    const gw = await startTestGateway(`
routes:
  - match: { prefix: /api/ }
    respond: { json: { ok: true } }
`);
    expectError(await send(gw.url, { path: '/other' }), 404, 'TG_NOT_FOUND');
  });

  it('a method the route does not accept gets 405 with Allow listing the accepted ones', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(`
upstreams:
  app: { url: "${up.url}" }
routes:
  - match: { path: /things, methods: [GET] }
    upstream: app
  - match: { path: /things, methods: [post] }
    upstream: app
`);
    const r = await send(gw.url, { method: 'DELETE', path: '/things' });
    expectError(r, 405, 'TG_METHOD_NOT_ALLOWED');
    expect(String(r.headers.allow).split(/,\s*/).sort()).toEqual(['GET', 'POST']);
    expect(up.requests).toHaveLength(0);
  });

  it('a declared content-length over maxBodySize gets 413 and the upstream is never called', async () => {
    const { up, gw } = await behind(() => undefined, '', 'maxBodySize: 1MiB');
    // Only the head is sent: the answer must not wait for a body the gateway refuses anyway.
    const r = await rawRequest(gw.url, `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'TG_BODY_TOO_LARGE' });
    expect(r.header('x-request-id')).toBeTruthy();
    expect(up.requests).toHaveLength(0);
  });

  it('a chunked body that grows over maxBodySize gets 413 and the upstream never gets it whole', async () => {
    const { up, gw } = await behind((_req, res) => res.end('got it all'), '', 'maxBodySize: 1MiB');
    const r = await send(gw.url, { method: 'POST', path: '/upload', body: chunks(32, 64 * 1024) });
    expectError(r, 413, 'TG_BODY_TOO_LARGE');
    // Give an upstream that was going to finish reading the time to do so.
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const got of up.requests) expect(got.complete).toBe(false);
  });

  it('a chunked body within maxBodySize is forwarded', async () => {
    const { up, gw } = await behind((_req, res, got) => res.end(String(got.body.length)), '', 'maxBodySize: 1MiB');
    const r = await send(gw.url, { method: 'POST', path: '/upload', body: chunks(8, 64 * 1024) });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(String(8 * 64 * 1024));
    expect(up.requests).toHaveLength(1);
  });

  it('a URL longer than maxUrlLength gets 414', async () => {
    const { up, gw } = await behind(() => undefined);
    expectError(await send(gw.url, { path: '/' + 'a'.repeat(10_000) }), 414, 'TG_URI_TOO_LONG');
    expect(up.requests).toHaveLength(0);
  });

  it('request headers over maxHeaderSize get 431', async () => {
    const { up, gw } = await behind(() => undefined);
    const r = await send(gw.url, { path: '/', headers: { 'x-big': 'b'.repeat(20_000) } });
    expect(r.status).toBe(431);
    expect(r.json()).toMatchObject({ code: 'TG_HEADERS_TOO_LARGE', error: expect.any(String) });
    expect(up.requests).toHaveLength(0);
  });
});

describe('upstream failures', () => {
  it('an upstream that refuses connections gives 502', async () => {
    const port = await closedPort();
    const gw = await startTestGateway(`
upstreams:
  app: { url: "http://127.0.0.1:${port}" }
routes:
  - match: { prefix: / }
    upstream: app
`);
    expectError(await send(gw.url, { path: '/x' }), 502, 'TG_UPSTREAM_ERROR');
  });

  it('an upstream that resets the connection before answering gives 502', async () => {
    const { gw } = await behind(hangUp);
    expectError(await send(gw.url, { path: '/x' }), 502, 'TG_UPSTREAM_ERROR');
  });

  it('an upstream that sends garbage instead of HTTP gives 502', async () => {
    const { gw } = await behind((req) => req.socket.end('SMTP ready\r\n\r\n'));
    expectError(await send(gw.url, { path: '/x' }), 502, 'TG_UPSTREAM_ERROR');
  });

  it('an upstream that does not send its response head within timeouts.headers gives 504', async () => {
    const { gw } = await behind(() => undefined, 'timeouts: { headers: 200ms }');
    expectError(await send(gw.url, { path: '/slow' }), 504, 'TG_UPSTREAM_TIMEOUT');
  });

  it('an upstream that dies halfway through a content-length body aborts the client response', async () => {
    const { gw } = await behind((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 100_000 });
      res.write(Buffer.alloc(50_000, 0x61), () => setTimeout(() => res.socket?.destroy(), 50));
    });
    await expect(send(gw.url, { path: '/big' })).rejects.toThrow();
  });

  it('an upstream that dies halfway through a chunked body aborts the client response', async () => {
    const { gw } = await behind((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(50_000, 0x61), () => setTimeout(() => res.socket?.destroy(), 50));
    });
    await expect(send(gw.url, { path: '/big' })).rejects.toThrow();
  });

  it('fetch sees a failed body, never a complete 200, when the upstream dies mid-response', async () => {
    const { gw } = await behind((_req, res) => {
      res.writeHead(200, { 'content-length': 100_000 });
      res.write(Buffer.alloc(50_000, 0x61), () => setTimeout(() => res.socket?.destroy(), 50));
    });
    const outcome = await fetch(gw.url + '/big').then(
      async (r) => r.arrayBuffer().then(
        (b) => `complete ${r.status} with ${b.byteLength} bytes`,
        () => 'aborted',
      ),
      () => 'aborted',
    );
    expect(outcome).toBe('aborted');
  });

  it('a POST is never retried, even with retry.attempts set', async () => {
    const { up, gw } = await behind(hangUp, 'retry: { attempts: 2 }');
    const r = await send(gw.url, { method: 'POST', path: '/pay', headers: { 'content-type': 'application/json' }, body: '{"amount":100}' });
    expectError(r, 502, 'TG_UPSTREAM_ERROR');
    expect(up.requests).toHaveLength(1);
  });

  it('a POST without a body is not retried either', async () => {
    const { up, gw } = await behind(hangUp, 'retry: { attempts: 2 }');
    expectError(await send(gw.url, { method: 'POST', path: '/pay' }), 502, 'TG_UPSTREAM_ERROR');
    expect(up.requests).toHaveLength(1);
  });

  it('a GET is not retried by default', async () => {
    const { up, gw } = await behind(hangUp);
    expectError(await send(gw.url, { path: '/x' }), 502, 'TG_UPSTREAM_ERROR');
    expect(up.requests).toHaveLength(1);
  });

  it('a GET with retry.attempts: 1 succeeds when the first connection is reset', async () => {
    let n = 0;
    const { up, gw } = await behind((req, res) => {
      if (n++ === 0) return req.socket.destroy();
      res.end('second time lucky');
    }, 'retry: { attempts: 1 }');
    const r = await send(gw.url, { path: '/flaky' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('second time lucky');
    expect(up.requests).toHaveLength(2);
  });

  it('retries are bounded: a GET that keeps failing gives 502 after 1 + attempts tries', async () => {
    const { up, gw } = await behind(hangUp, 'retry: { attempts: 2 }');
    expectError(await send(gw.url, { path: '/down' }), 502, 'TG_UPSTREAM_ERROR');
    expect(up.requests).toHaveLength(3);
  });

  it('upstream error statuses pass through unchanged (they are answers, not failures)', async () => {
    const { gw } = await behind((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      res.end('upstream maintenance');
    });
    const r = await send(gw.url, { path: '/' });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.body.toString()).toBe('upstream maintenance');
  });
});
