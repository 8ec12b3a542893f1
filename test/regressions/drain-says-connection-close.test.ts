/**
 * Once shutdown starts, every response the gateway still writes says `Connection: close` (those in flight whose
 * head is not sent yet, and any request arriving on a kept-alive connection), and the connection then ends
 * cleanly: a client never reuses a socket the gateway is about to drop, so it sees no ECONNRESET.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

afterEach(closeAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A kept-alive raw connection: read one response at a time, see how the connection ended. */
function keepAlive(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  let buf = '';
  let error: string | undefined;
  let ended = false;
  let waiter: (() => void) | undefined;
  socket.on('data', (c: Buffer) => ((buf += c.toString('latin1')), waiter?.()));
  socket.on('error', (e: NodeJS.ErrnoException) => ((error = e.code), waiter?.()));
  socket.on('close', () => ((ended = true), waiter?.()));
  return {
    get: (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: gw\r\n\r\n`),
    /** The next whole response (content-length bodies only). */
    async response(): Promise<string> {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end !== -1) {
          const len = Number(/\r\ncontent-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
          if (buf.length >= end + 4 + len) {
            const r = buf.slice(0, end + 4 + len);
            buf = buf.slice(end + 4 + len);
            return r;
          }
        }
        if (ended) throw new Error(`connection ended (${error ?? 'cleanly'}) before a whole response: ${JSON.stringify(buf)}`);
        await new Promise<void>((r) => (waiter = r));
      }
    },
    async closed(): Promise<{ error: string | undefined }> {
      while (!ended) await new Promise<void>((r) => (waiter = r));
      return { error };
    },
  };
}

describe('draining', () => {
  it('a response in flight when shutdown starts says Connection: close, and its connection ends without a reset', async () => {
    const up = await startUpstream((req, res) => void setTimeout(() => res.end('slow'), req.url === '/slow' ? 400 : 0));
    const gw = await startTestGateway(`upstreams: { app: { url: "${up.url}" } }\nroutes: [{ match: { prefix: / }, upstream: app }]\n`);
    const c = keepAlive(gw.port);
    c.get('/first');
    expect(await c.response()).toMatch(/\r\nconnection: keep-alive\r\n/i);
    c.get('/slow');
    while (up.requests.length < 2) await sleep(5);
    const shutdown = gw.close();
    const r = await c.response();
    expect(r).toMatch(/^HTTP\/1\.1 200 /);
    expect(r).toMatch(/\r\nconnection: close\r\n/i);
    expect(await c.closed()).toEqual({ error: undefined });
    await shutdown;
  });

  it('a request arriving on a kept-alive connection while in-flight requests finish gets 503 with Connection: close', async () => {
    const up = await startUpstream((req, res) => void setTimeout(() => res.end('ok'), req.url === '/slow' ? 500 : 0));
    const gw = await startTestGateway(`upstreams: { app: { url: "${up.url}" } }\nroutes: [{ match: { prefix: / }, upstream: app }]\n`);
    const slow = keepAlive(gw.port);
    const other = keepAlive(gw.port);
    other.get('/first');
    await other.response();
    slow.get('/slow');
    while (up.requests.length < 2) await sleep(5);
    const shutdown = gw.close();
    // The idle kept-alive connection is either closed cleanly at once or answered 503 + close: never reset.
    other.get('/again');
    let answer: string | undefined;
    try {
      answer = await other.response();
    } catch {
      answer = undefined;
    }
    if (answer !== undefined) {
      expect(answer).toMatch(/^HTTP\/1\.1 503 /);
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    }
    expect(await other.closed()).toEqual({ error: undefined });
    expect(await slow.response()).toMatch(/\r\nconnection: close\r\n/i);
    await shutdown;
  });
});
