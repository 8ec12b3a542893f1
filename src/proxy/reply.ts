/** Writing gateway-made answers: errors from the catalogue and `Reply` objects. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable, pipeline } from 'node:stream';
import { GatewayError, errorBody } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Headers, Reply, UpstreamResponse } from '../policies/types.js';
import { recordToFlat } from './headers.js';

export const VIA = '1.1 tollgate';

/**
 * Lingering close (what nginx calls lingering_close): after an answer given while the client is still
 * uploading, the body is read and discarded for a while before the socket closes. Closing at once makes the
 * kernel answer the bytes still arriving with a TCP reset, which can discard the answer before the client
 * reads it. Bounded in time, and in bytes (past that, reading stops and the client waits until the time is up).
 */
const LINGER_MS = 1000;
const LINGER_BYTES = 4 * 1024 * 1024;
const LINGER_TICK_MS = 50;

/** The client is still sending a body that nobody will read once this answer is written. */
function bodyUnread(req: IncomingMessage | undefined): req is IncomingMessage {
  if (!req || req.complete) return false;
  const h = req.headers;
  return (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined;
}

/** Replaces node's close-after-response (socket.destroySoon) on this socket by a lingering close. */
function lingerOnClose(req: IncomingMessage, socket: Socket | null): void {
  if (!socket || socket.destroyed) return;
  socket.destroySoon = function lingeringClose(this: Socket) {
    if (this.writable) this.end();
    // Nobody reads the body any more (a policy or the upstream may have stopped mid-way): let it flow to nowhere.
    req.resume();
    const start = this.bytesRead;
    const tick = setInterval(() => {
      if (this.bytesRead - start > LINGER_BYTES) {
        clearInterval(tick);
        this.pause();
      }
    }, LINGER_TICK_MS);
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    this.once('close', () => {
      clearInterval(tick);
      clearTimeout(timer);
    });
  };
}

/** Closes the connection after this answer if the upload is unfinished, with a lingering close. */
function closeIfBodyUnread(res: ServerResponse, flat: string[], close: boolean): void {
  const req = res.req as IncomingMessage | undefined;
  if (bodyUnread(req)) {
    lingerOnClose(req, res.socket);
    close = true;
  }
  if (close) flat.push('connection', 'close');
}

export function sendError(res: ServerResponse, requestId: string | undefined, err: GatewayError | ErrorCode, close = false, extra?: string[]): void {
  const e = typeof err === 'string' ? new GatewayError(err) : err;
  if (res.headersSent) {
    // Never turn a started response into a silent truncated 200: abort it (a finished one is left alone).
    if (!res.writableEnded) res.destroy(e);
    return;
  }
  const body = errorBody(e.code, e.message, requestId);
  const flat = ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'];
  if (requestId) flat.push('x-request-id', requestId);
  if (e.headers) recordToFlat(e.headers, flat);
  if (extra) for (const h of extra) flat.push(h);
  closeIfBodyUnread(res, flat, close);
  res.writeHead(e.status, flat);
  res.end(body);
}

/** The body of a reply as a stream, so response-phase hooks see the same shape as an upstream response. */
export function replyToResponse(reply: Reply): UpstreamResponse {
  const headers: Headers = { ...reply.headers };
  let body: Readable | null = null;
  const b = reply.body;
  if (typeof b === 'string' || Buffer.isBuffer(b)) {
    headers['content-length'] ??= String(Buffer.byteLength(b));
    body = Readable.from([Buffer.isBuffer(b) ? b : Buffer.from(b)]);
  } else if (b) body = b;
  return { status: reply.status, headers, body };
}

/** Writes a response whose headers are a record; streams the body with backpressure. */
export function writeResponse(res: ServerResponse, requestId: string, r: UpstreamResponse | Reply, extra?: string[]): void {
  let h = r.headers ?? {};
  if (h['x-request-id'] !== undefined) {
    // One x-request-id on every response: the gateway's.
    h = { ...h };
    delete h['x-request-id'];
  }
  const flat = recordToFlat(h);
  flat.push('x-request-id', requestId);
  if (extra) for (const h of extra) flat.push(h);
  closeIfBodyUnread(res, flat, false);
  const b = r.body;
  if (typeof b === 'string' || Buffer.isBuffer(b)) {
    if (h['content-length'] === undefined) flat.push('content-length', String(Buffer.byteLength(b)));
    res.writeHead(r.status, flat);
    res.end(b);
    return;
  }
  res.writeHead(r.status, flat);
  if (!b) {
    res.end();
    return;
  }
  pipeline(b, res, (err) => {
    if (err && !res.destroyed) res.destroy(err);
  });
}
