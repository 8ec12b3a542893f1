/**
 * A client that stops sending its request body gets 408 in the catalogue's shape after listen.bodyIdleTimeout
 * (default 30 s) instead of holding the connection for the whole requestTimeout; a slow but steady client, or
 * a pause caused by a slow upstream, is not cut.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import type { Answer } from '../helpers/upstream.js';

afterEach(closeAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gateway(answer?: Answer, stream = false) {
  const up = await startUpstream(answer, { stream });
  const gw = await startTestGateway(`listen: { bodyIdleTimeout: 300ms }\nupstreams: { app: { url: "${up.url}" } }\nroutes: [{ match: { prefix: / }, upstream: app }]\n`);
  return { up, gw };
}

/** Sends the head and `parts` of the body with `gapMs` between them, then waits (at most 5 s) for the gateway to close. */
function dribble(port: number, length: number | 'chunked', parts: string[], gapMs: number): Promise<{ received: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString()));
    socket.on('error', () => undefined);
    const giveUp = setTimeout(() => socket.destroy(), 5000);
    socket.on('close', () => (clearTimeout(giveUp), resolve({ received, ms: Date.now() - started })));
    const framing = length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`;
    socket.write(`POST /upload HTTP/1.1\r\nHost: gw\r\n${framing}\r\nConnection: close\r\n\r\n`);
    void (async () => {
      for (const p of parts) {
        if (socket.destroyed) return;
        socket.write(p);
        await sleep(gapMs);
      }
    })();
  });
}

describe('body idle timeout', () => {
  it.each([
    ['a declared length', 100 as const],
    ['a chunked body', 'chunked' as const],
  ])('a client that stops sending %s gets 408 TG_REQUEST_TIMEOUT and the connection is closed', async (_what, length) => {
    const { up, gw } = await gateway();
    const r = await dribble(gw.port, length, [length === 'chunked' ? 'a\r\n0123456789\r\n' : '0123456789'], 0);
    expect(r.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.received).toContain('"code":"TG_REQUEST_TIMEOUT"');
    expect(r.received).toMatch(/\r\nx-request-id: \S+\r\n/i);
    // Within the idle timeout and its check interval, far from the 5-minute requestTimeout.
    expect(r.ms).toBeLessThan(3000);
    expect(up.requests.filter((q) => q.complete)).toHaveLength(0);
  });

  it('a slow but steady client (a chunk every 100 ms, 300 ms allowed) is served', async () => {
    const { up, gw } = await gateway();
    const r = await dribble(gw.port, 10, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], 100);
    expect(r.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(up.requests[0].body.toString()).toBe('abcdefghij');
  });

  it('an upstream that reads the body slowly does not make the client time out', async () => {
    // The upstream waits 1 s before reading 8 MiB: the client is blocked by the gateway, not idle.
    const { gw } = await gateway((req, res) => {
      setTimeout(() => {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(String(n)));
      }, 1000);
    }, true);
    const r = await send(gw.url, { method: 'POST', path: '/upload', body: Buffer.alloc(8 * 1024 * 1024, 0x61) });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(String(8 * 1024 * 1024));
  });
});
