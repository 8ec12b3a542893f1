/**
 * The request path's front: per request, check the target and the head, find the route, build the exchange
 * and hand it to the route's pipeline (pipeline.ts), which runs the policies and the upstream call
 * (dispatch.ts). Also the body guards that belong to the client's connection: the size limit on chunked
 * uploads and the 408 on a body that stops arriving.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { Exchange } from '../policies/types.js';
import { ProxyExchange } from './exchange.js';
import { readClientHead } from './headers.js';
import { checkPath, checkSentPath, rawPrefixLength } from './path.js';
import { createPipeline } from './pipeline.js';
import { VIA, sendError } from './reply.js';
import { findRoute, hostOf } from './router.js';
import type { ListenBlock, Snapshot } from './snapshot.js';

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
/** Control characters, raw or percent-encoded: refused in the query as in the path (CR LF reach logs and upstreams). */
const QUERY_CONTROL = /[\u0000-\u001f\u007f]|%(?:[01][0-9a-fA-F]|7[fF])/;

export interface HandlerState {
  /** Set when shutdown starts: new requests get 503 and the connection is closed. */
  draining: boolean;
  /** Requests being served, for graceful shutdown. */
  inflight: number;
}

/** One finished request, for the access log; `ex` is undefined when the request was refused before routing. */
export interface AccessLogEntry {
  ex: ProxyExchange | undefined;
  requestId: string;
  method: string;
  url: string;
  status: number;
  startedAt: bigint;
  /** Time from the request's start to its end, ms (read once here for the log and the metrics). */
  ms: number;
  upstreamMs: number | undefined;
  bytes: number;
  error?: unknown;
}

/** Errors a chunked request body past the route's limit, so the upstream never sees it whole. */
function limitBody(req: IncomingMessage, max: number): Readable {
  let seen = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(new GatewayError('TG_BODY_TOO_LARGE'));
      else cb(null, chunk);
    },
  });
  req.on('error', (e) => t.destroy(e));
  return req.pipe(t);
}

/**
 * Answers 408 (RFC 9110 §15.5.9) when the client sends nothing of its body for `ms` while the gateway waits for
 * it, instead of holding the connection for the whole requestTimeout. Progress is read from the socket's byte
 * count, so the body stream is not touched; a pause that is the gateway's (bytes buffered but not consumed
 * because the upstream reads slowly, 100 Continue not sent yet) does not count.
 */
function watchBodyIdle(ex: ProxyExchange, req: IncomingMessage, res: ServerResponse, ms: number): void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  let idleSince = Date.now();
  const timer = setInterval(() => {
    if (req.complete || res.headersSent || res.destroyed) return clearInterval(timer);
    const now = Date.now();
    const read = socket.bytesRead;
    if (read !== seen || req.readableLength > 0 || ex.expectContinue) {
      seen = read;
      idleSince = now;
      return;
    }
    if (now - idleSince < ms) return;
    clearInterval(timer);
    sendError(res, ex.requestId, 'TG_REQUEST_TIMEOUT', true, ex.extraHeaders);
    ex.abortUpstream(new GatewayError('TG_REQUEST_TIMEOUT'));
  }, Math.max(10, ms / 4));
  timer.unref();
  req.once('end', () => clearInterval(timer));
  res.once('close', () => clearInterval(timer));
}

function clientAddress(req: IncomingMessage, listen: ListenBlock, xff: string | undefined): { peer: string; client: string; trusted: boolean } {
  const peer = req.socket.remoteAddress ?? '';
  const tp = listen.trustedProxies;
  if (!tp || !isTrusted(tp, peer)) return { peer, client: peer, trusted: false };
  let client = peer;
  if (xff) {
    // Right to left: the first address that is not a trusted proxy is the client.
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const a = hops[i].trim();
      if (!a) continue;
      client = a;
      if (!isTrusted(tp, a)) break;
    }
  }
  return { peer, client, trusted: true };
}

function isTrusted(list: NonNullable<ListenBlock['trustedProxies']>, addr: string): boolean {
  const v4mapped = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  try {
    return v4mapped.includes(':') ? list.check(v4mapped, 'ipv6') : list.check(v4mapped, 'ipv4');
  } catch {
    return false;
  }
}

export function createHandler(
  getSnapshot: () => Snapshot,
  log: Logger,
  state: HandlerState,
  accessLog: ((e: AccessLogEntry) => void) | undefined,
  /** Called once per request when it ends, with the snapshot it was served by. */
  onEnd?: (snap: Snapshot) => void,
) {
  const pipeline = createPipeline(log);

  function finish(ex: ProxyExchange | undefined, req: IncomingMessage, res: ServerResponse, requestId: string, startedAt: bigint, socket: Socket, bytesAtStart: number) {
    // res.socket is gone once the response is closed, and req.socket too when undici destroyed the body it
    // consumed (it sets IncomingMessage#socket = null): use the socket captured at the start.
    const bytesOut = socket.bytesWritten - bytesAtStart;
    state.inflight--;
    if (ex) pipeline.finish(ex, res.statusCode, bytesOut);
    accessLog?.({
      ex,
      requestId,
      method: req.method ?? '',
      url: req.url ?? '',
      status: res.headersSent || res.writableFinished ? res.statusCode : 499,
      startedAt,
      ms: Number(process.hrtime.bigint() - startedAt) / 1e6,
      upstreamMs: ex?.upstreamMs,
      bytes: bytesOut,
    });
  }

  return function handle(req: IncomingMessage, res: ServerResponse, snap: Snapshot = getSnapshot()): void {
    const startedAt = process.hrtime.bigint();
    state.inflight++;
    const socket = req.socket;
    const bytesAtStart = socket.bytesWritten;
    const head = readClientHead(req.rawHeaders);
    const requestId = head.requestId !== undefined && REQUEST_ID.test(head.requestId) ? head.requestId : randomUUID();
    let ex: ProxyExchange | undefined = undefined;
    // 'close' is emitted once: `on` spares `once`'s wrapper and its removal.
    res.on('close', () => {
      if (ex && !res.writableFinished) ex.abortUpstream(new Error('client closed the connection'));
      finish(ex, req, res, requestId, startedAt, socket, bytesAtStart);
      onEnd?.(snap);
    });

    const listen = snap.listen;
    if (state.draining) return sendError(res, requestId, 'TG_SHUTTING_DOWN', true);
    const url = req.url ?? '';
    if (url.length > listen.maxUrlLength) return sendError(res, requestId, 'TG_URI_TOO_LONG', true);
    if (head.hostCount > 1) return sendError(res, requestId, new GatewayError('TG_BAD_HEADER', 'More than one Host header.'), true);
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused (node's own check would answer without our shape).
    if (head.hostCount === 0 && req.httpVersion === '1.1') return sendError(res, requestId, new GatewayError('TG_BAD_HEADER', 'Missing Host header.'), true);
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    if (q !== -1 && QUERY_CONTROL.test(query) && !listen.allowQueryControlChars) {
      return sendError(res, requestId, new GatewayError('TG_BAD_PATH', 'Control characters are not allowed in the query.'), true);
    }
    const decoded = checkPath(rawPath);
    if (decoded.startsWith('TG_')) return sendError(res, requestId, decoded as 'TG_BAD_PATH', true);
    const method = req.method ?? 'GET';
    const found = findRoute(snap.routes, method, decoded, listen.hostRouting ? hostOf(head.host) : '');
    if (!found) return sendError(res, requestId, 'TG_NOT_FOUND');
    if (!('route' in found)) return sendError(res, requestId, new GatewayError('TG_METHOD_NOT_ALLOWED', undefined, { headers: { allow: found.allow.join(', ') } }));
    const { route, match } = found;

    // Body: refuse what is declared too large before reading it; cap what is streamed without a length.
    const headers = head.headers;
    let body: Exchange['body'] = null;
    const cl = headers['content-length'];
    if (cl !== undefined) {
      const n = Number(cl);
      if (n > route.maxBodySize) return sendError(res, requestId, 'TG_BODY_TOO_LARGE', true);
      if (n > 0) body = req;
      else delete headers['content-length'];
    } else if (head.chunked) {
      body = limitBody(req, route.maxBodySize);
    }

    let upPath = rawPath;
    let mount = '';
    if (route.rewrite || route.stripPrefix) {
      if (route.rewrite) upPath = route.rewrite(match);
      else {
        const cut = rawPath.startsWith(decoded.slice(0, match.prefixLength)) ? match.prefixLength : rawPrefixLength(rawPath, match.prefixLength);
        upPath = rawPath.slice(cut);
        if (upPath.charCodeAt(0) !== 47) upPath = '/' + upPath;
        mount = rawPath.slice(0, cut).replace(/\/+$/, '');
      }
      const sent = checkSentPath(upPath);
      if (sent.startsWith('TG_')) return sendError(res, requestId, sent as 'TG_BAD_PATH');
      upPath = sent;
    }

    const { client, trusted } = clientAddress(req, listen, head.xForwardedFor);
    if (route.upstream) {
      const peer = req.socket.remoteAddress ?? '';
      headers['x-forwarded-for'] = trusted && head.xForwardedFor ? `${head.xForwardedFor}, ${peer}` : peer;
      headers['x-forwarded-proto'] = (trusted && head.xForwardedProto) || 'http';
      const fwdHost = (trusted && head.xForwardedHost) || head.host;
      if (fwdHost) headers['x-forwarded-host'] = fwdHost;
      headers['via'] = head.via ? `${head.via}, ${VIA}` : VIA;
      headers['x-request-id'] = requestId;
      if (route.upstream.preserveHost && head.host) headers['host'] = head.host;
    }
    const https = (req.socket as { encrypted?: boolean }).encrypted || (trusted && head.xForwardedProto?.trim().toLowerCase() === 'https');
    ex = new ProxyExchange({
      snap,
      route,
      runner: pipeline,
      log,
      requestId,
      startedAt,
      req,
      res,
      clientIp: client,
      clientProto: https ? 'https' : 'http',
      clientMethod: method,
      clientUrl: url,
      clientPath: rawPath,
      clientQuery: query,
      method,
      path: upPath,
      query,
      params: match.params,
      headers,
      body,
      mount,
      expectContinue: head.expectContinue,
    });
    if (body !== null && !req.complete) watchBodyIdle(ex, req, res, listen.bodyIdleTimeout);
    pipeline.start(ex);
  };
}
