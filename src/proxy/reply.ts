/** Writing gateway-made answers: errors from the catalogue and `Reply` objects. */
import type { ServerResponse } from 'node:http';
import { Readable, pipeline } from 'node:stream';
import { ERRORS, GatewayError, errorBody } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Headers, Reply, UpstreamResponse } from '../policies/types.js';
import { recordToFlat } from './headers.js';

export const VIA = '1.1 tollgate';

export function sendError(res: ServerResponse, requestId: string | undefined, err: GatewayError | ErrorCode, close = false, extra?: string[]): void {
  const e = typeof err === 'string' ? new GatewayError(err) : err;
  if (res.headersSent) {
    // Never turn a started response into a silent truncated 200: abort it.
    res.destroy(e);
    return;
  }
  const body = errorBody(e.code, e.message, requestId);
  const flat = ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'];
  if (requestId) flat.push('x-request-id', requestId);
  if (e.headers) recordToFlat(e.headers, flat);
  if (extra) for (const h of extra) flat.push(h);
  if (close) flat.push('connection', 'close');
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
  const flat = recordToFlat(r.headers ?? {});
  flat.push('x-request-id', requestId);
  if (extra) for (const h of extra) flat.push(h);
  const b = r.body;
  if (typeof b === 'string' || Buffer.isBuffer(b)) {
    if (r.headers?.['content-length'] === undefined) flat.push('content-length', String(Buffer.byteLength(b)));
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

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}

export { ERRORS };
