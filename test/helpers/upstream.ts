/**
 * A real node:http upstream on 127.0.0.1:0 that records every request it receives, for the proxy's
 * integration tests. Each test sets how it answers; everything started here is closed by closeAll().
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

interface Received {
  method: string;
  /** The request target exactly as it arrived on the wire. */
  url: string;
  /** Name/value pairs as sent, names in their original case. */
  rawHeaders: string[];
  /** Body bytes received so far (only collected in the default, non-streaming mode). */
  body: Buffer;
  /** True once the whole body arrived; false while it streams or when the request was aborted. */
  complete: boolean;
}

/**
 * How the upstream answers. In the default mode it is called once the body is complete; with
 * `stream: true` it is called at once with the unread request (nothing is buffered).
 */
export type Answer = (req: IncomingMessage, res: ServerResponse, got: Received) => void;

export interface TestUpstream {
  url: string;
  port: number;
  requests: Received[];
  /** TCP connections accepted so far. */
  connections: number;
  answer(fn: Answer, opts?: { stream?: boolean }): void;
  /** Closes the listener and destroys every open connection. */
  close(): Promise<void>;
}

interface Closable {
  close(): Promise<void>;
}

const open: Closable[] = [];

/** Registers something for closeAll(). */
export function track<T extends Closable>(c: T): T {
  open.push(c);
  return c;
}

/** Closes everything the helpers started; call it in afterEach. */
export async function closeAll(): Promise<void> {
  const all = open.splice(0).reverse();
  // Upstreams first: destroying their sockets ends any request a test left hanging, so the gateway's
  // graceful shutdown does not wait out its grace period.
  for (const c of all) if ((c as Partial<TestUpstream>).requests) await c.close();
  for (const c of all) if (!(c as Partial<TestUpstream>).requests) await c.close();
}

/** Answers 200 with a small JSON body. */
export const okJson: Answer = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"ok":true}');
};

/** Answers with what it received: method, raw url, raw headers and the body length. */
export const echo: Answer = (_req, res, got) => {
  const body = JSON.stringify({ method: got.method, url: got.url, rawHeaders: got.rawHeaders, bodyLength: got.body.length });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
};

export async function startUpstream(initial: Answer = okJson, opts: { stream?: boolean } = {}): Promise<TestUpstream> {
  let answerFn = initial;
  let streaming = opts.stream ?? false;
  const sockets = new Set<Socket>();
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const got: Received = { method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.alloc(0), complete: false };
    requests.push(got);
    if (streaming) {
      req.once('end', () => (got.complete = true));
      answerFn(req, res, got);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.once('end', () => {
      got.body = Buffer.concat(chunks);
      got.complete = true;
      answerFn(req, res, got);
    });
  });
  server.on('connection', (s: Socket) => {
    up.connections++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const up: TestUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    connections: 0,
    answer(fn, o) {
      answerFn = fn;
      streaming = o?.stream ?? false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return track(up);
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
