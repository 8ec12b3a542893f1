/**
 * The proxy listener and its lifecycle: start, atomic config swap (hot reload), graceful shutdown.
 * In-flight requests keep the snapshot they started with; the old snapshot is retired when they are done.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, ServerResponse, createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorBody, ERRORS } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { createHandler } from './handler.js';
import type { AccessLogEntry, HandlerState } from './handler.js';
import { createAccessLog } from './access-log.js';
import type { Snapshot } from './snapshot.js';
import type { Traffic } from './traffic.js';

export interface ProxyServer {
  readonly server: Server;
  readonly state: HandlerState;
  current(): Snapshot;
  listen(host: string, port: number): Promise<{ host: string; port: number; url: string }>;
  /** Serves new requests with `next`; the previous snapshot is retired once its requests have finished. */
  swap(next: Snapshot): Promise<void>;
  /** Stops accepting, lets in-flight requests finish within `graceMs`, then closes everything. */
  shutdown(graceMs: number): Promise<void>;
}

/** node:http parser and timeout errors, answered in the catalogue's shape before a request exists. */
const CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'TG_HEADERS_TOO_LARGE',
  HPE_URI_TOO_LONG: 'TG_URI_TOO_LONG',
  ERR_HTTP_REQUEST_TIMEOUT: 'TG_REQUEST_TIMEOUT',
};

function rawError(socket: Socket, code: ErrorCode): void {
  // Refused before a request exists, but still identifiable: every response carries a request id.
  const requestId = randomUUID();
  const body = errorBody(code, ERRORS[code].message, requestId);
  const { status } = ERRORS[code];
  const reason = STATUS_CODES[status] ?? 'Bad Request';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`);
}

/**
 * Responses that say `Connection: close` (RFC 9112 §9.6) once draining has started, including those of requests
 * already in flight whose head is not written yet: the client then opens a new connection (to another instance)
 * instead of reusing one the gateway is about to drop. One flag check per response.
 */
function drainAwareResponse(state: HandlerState): typeof ServerResponse {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with apply(this, args)
  const writeHead = ServerResponse.prototype.writeHead as (this: ServerResponse, status: unknown, reason: unknown, headers: unknown) => ServerResponse;
  class DrainAwareResponse<Req extends IncomingMessage = IncomingMessage> extends ServerResponse<Req> {}
  // Fixed arity, no rest array: node's writeHead reads a non-string second argument as the headers.
  DrainAwareResponse.prototype.writeHead = function (this: ServerResponse, status: unknown, reason?: unknown, headers?: unknown) {
    if (state.draining) this.shouldKeepAlive = false;
    return writeHead.call(this, status, reason, headers);
  } as ServerResponse['writeHead'];
  return DrainAwareResponse;
}

export function createProxyServer(initial: Snapshot, log: Logger, opts: { accessLog: boolean; tls?: { cert: Buffer; key: Buffer }; traffic?: Traffic }): ProxyServer {
  let snapshot = initial;
  const state: HandlerState = { draining: false, inflight: 0 };
  // Requests per snapshot, so a retired snapshot is released only when its last request ends.
  const inflightBySnapshot = new Map<Snapshot, number>();

  const accessLog = opts.accessLog ? createAccessLog(log, () => snapshot) : undefined;

  // Metrics count from the same per-request entry as the access log (one call, no second hook).
  const traffic = opts.traffic;
  const logWrite = accessLog?.write;
  const onEntry = traffic && logWrite ? (e: AccessLogEntry) => (traffic.record(e), logWrite(e)) : (traffic?.record ?? logWrite);
  const handle = createHandler(() => snapshot, log, state, onEntry, (snap) => {
    const n = (inflightBySnapshot.get(snap) ?? 1) - 1;
    if (n > 0 || snap === snapshot) inflightBySnapshot.set(snap, n);
    else {
      inflightBySnapshot.delete(snap);
      retiring.get(snap)?.();
    }
  });
  const cfg = initial.config.listen;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const snap = snapshot;
    inflightBySnapshot.set(snap, (inflightBySnapshot.get(snap) ?? 0) + 1);
    handle(req, res, snap);
  };
  const serverOptions = {
      maxHeaderSize: cfg.maxHeaderSize,
      requestTimeout: cfg.requestTimeout,
      headersTimeout: cfg.headersTimeout,
      keepAliveTimeout: cfg.keepAliveTimeout,
      // Node checks the two timeouts above only this often (default 30 s); slow-loris needs a tighter check.
      connectionsCheckingInterval: Math.min(1000, cfg.headersTimeout),
      // Checked by the handler, so the answer has the catalogue's shape and a request id.
      requireHostHeader: false,
      ServerResponse: drainAwareResponse(state),
  };
  // An https.Server has the same request API; typed as the http one the rest of this file uses.
  const server: Server = opts.tls
    ? (createTlsServer({ ...serverOptions, cert: opts.tls.cert, key: opts.tls.key }, onRequest))
    : createServer(serverOptions, onRequest);
  // Without this listener node answers 100 Continue by itself; the handler sends it only once the body
  // will be read, so a request refused early (404, 413, 401) never makes the client upload.
  server.on('checkContinue', onRequest);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    rawError(socket, CLIENT_ERRORS[err.code ?? ''] ?? 'TG_BAD_REQUEST');
  });
  // CONNECT would turn the gateway into an open tunnel: refuse it.
  server.on('connect', (_req, socket: Socket) => rawError(socket, 'TG_BAD_REQUEST'));

  const retiring = new Map<Snapshot, () => void>();

  return {
    server,
    state,
    current: () => snapshot,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          resolve({ host: a.address, port: a.port, url: `${opts.tls ? 'https' : 'http'}://${h}:${a.port}` });
        });
      });
    },
    async swap(next) {
      const prev = snapshot;
      snapshot = next;
      if (prev === next) return;
      if (!inflightBySnapshot.get(prev)) {
        inflightBySnapshot.delete(prev);
        await prev.retire(next);
        return;
      }
      await new Promise<void>((resolve) => retiring.set(prev, resolve));
      retiring.delete(prev);
      await prev.retire(next);
    },
    async shutdown(graceMs) {
      state.draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (state.inflight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        // Connections whose last response went out before draining (so without Connection: close) are closed
        // as soon as they are idle, not reset at the end.
        server.closeIdleConnections();
      }
      if (state.inflight > 0) log.warn({ inflight: state.inflight }, 'grace period over; closing remaining connections');
      server.closeAllConnections();
      await closed;
      accessLog?.flush();
      await snapshot.retire(undefined);
    },
  };
}
