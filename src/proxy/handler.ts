/**
 * The request path. Per request: check the target, find the route, run the route's compiled policy chain,
 * dispatch to the upstream with a raw undici handler, and stream the answer back. A route without
 * response-phase policies writes upstream bytes straight to the client; only routes that configured a
 * response transform pay for a stream in between.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable, Transform } from 'node:stream';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { BodyFilter, Exchange, Reply, UpstreamResponse } from '../policies/types.js';
import { filterResponseHeaders, flatToRecord, readClientHead } from './headers.js';
import { checkPath, checkSentPath, rawPrefixLength } from './path.js';
import { VIA, replyToResponse, sendError, writeResponse } from './reply.js';
import { findRoute, hostOf } from './router.js';
import type { CompiledRoute, Snapshot } from './snapshot.js';
import { isRetryable, upstreamError } from './upstream.js';
import type { DispatchHandler } from './upstream.js';

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
/** Control characters, raw or percent-encoded: refused in the query as in the path (CR LF reach logs and upstreams). */
const QUERY_CONTROL = /[\u0000-\u001f\u007f]|%(?:[01][0-9a-fA-F]|7[fF])/;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const NO_BODY_STATUS = (status: number) => status === 204 || status === 304 || (status >= 100 && status < 200);

export interface HandlerState {
  /** Set when shutdown starts: new requests get 503 and the connection is closed. */
  draining: boolean;
  /** Requests being served, for graceful shutdown. */
  inflight: number;
}

export interface AccessLogEntry {
  ex: Exchange | undefined;
  requestId: string;
  method: string;
  url: string;
  status: number;
  startedAt: bigint;
  upstreamMs: number | undefined;
  bytes: number;
  error?: unknown;
}

class Ctx implements Exchange {
  readonly state: Record<string, unknown> = {};
  consumer: Exchange['consumer'];
  upstreamStart = 0n;
  upstreamMs: number | undefined;
  abortUpstream: ((err?: Error) => void) | undefined;
  attempts = 0;
  done = false;
  /** The client waits for 100 Continue: sent only once the body is really going to be read. */
  expectContinue = false;
  /** The raw prefix stripPrefix removed (no trailing slash), put back into rewritten redirects. */
  mount = '';
  /** Flat [name, value, …] headers policies added for the response. */
  extraHeaders: string[] | undefined;
  clientProto: 'http' | 'https' = 'http';
  addResponseHeader(name: string, value: string): void {
    (this.extraHeaders ??= []).push(name.toLowerCase(), value);
  }
  detachUpstream(): (() => void) | undefined {
    const abort = this.abortUpstream;
    this.abortUpstream = undefined;
    return abort ? () => abort(new Error('nobody is waiting for this upstream body any more')) : undefined;
  }
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly requestId: string,
    readonly routeName: string,
    readonly clientIp: string,
    readonly clientUrl: string,
    public method: string,
    public path: string,
    public query: string,
    readonly params: Record<string, string>,
    public headers: Exchange['headers'],
    public body: Exchange['body'],
    readonly log: Logger,
    readonly startedAt: bigint,
    readonly route: CompiledRoute,
    readonly snap: Snapshot,
  ) {}
}

/** Runs the route's onResponseHead hooks (response order) on the flat head; 'stream' when one needs the stream path. */
function headFilters(ex: Ctx, status: number, flat: string[]): BodyFilter[] | undefined | 'stream' {
  let fs: BodyFilter[] | undefined;
  for (const c of ex.route.responseHeadHooks!) {
    const f = c.hooks.onResponseHead!(ex, status, flat);
    if (f === 'stream') return 'stream';
    if (f) (fs ??= []).push(f);
  }
  return fs;
}

/** What the filters still hold at the end of the body; each one's tail passes through the filters after it. */
function endFilters(fs: BodyFilter[]): Buffer | undefined {
  let tail: Buffer | undefined;
  for (const f of fs) {
    const passed = tail?.length ? f.chunk(tail) : undefined;
    const rest = f.end();
    tail = passed?.length && rest?.length ? Buffer.concat([passed, rest]) : passed?.length ? passed : rest;
  }
  return tail;
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
function watchBodyIdle(ex: Ctx, ms: number): void {
  const { req, res } = ex;
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
    ex.abortUpstream?.(new GatewayError('TG_REQUEST_TIMEOUT'));
  }, Math.max(10, ms / 4));
  timer.unref();
  req.once('end', () => clearInterval(timer));
  res.once('close', () => clearInterval(timer));
}

function clientAddress(req: IncomingMessage, snap: Snapshot, xff: string | undefined): { peer: string; client: string; trusted: boolean } {
  const peer = req.socket.remoteAddress ?? '';
  const tp = snap.trustedProxies;
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

function isTrusted(list: NonNullable<Snapshot['trustedProxies']>, addr: string): boolean {
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
  function finish(ex: Ctx | undefined, req: IncomingMessage, res: ServerResponse, requestId: string, startedAt: bigint, socket: Socket, bytesAtStart: number, error?: unknown) {
    // res.socket is gone once the response is closed, and req.socket too when undici destroyed the body it
    // consumed (it sets IncomingMessage#socket = null): use the socket captured at the start.
    const bytesOut = socket.bytesWritten - bytesAtStart;
    state.inflight--;
    if (ex) {
      ex.done = true;
      if (ex.route.hasDoneHooks) {
        const outcome = { status: res.statusCode, bytesOut, error };
        for (const c of ex.route.chain) {
          try {
            c.hooks.onDone?.(ex, outcome);
          } catch (e) {
            log.error({ err: e, policy: c.label }, 'policy onDone failed');
          }
        }
      }
    }
    accessLog?.({
      ex,
      requestId,
      method: req.method ?? '',
      url: req.url ?? '',
      status: res.headersSent || res.writableFinished ? res.statusCode : 499,
      startedAt,
      upstreamMs: ex?.upstreamMs,
      bytes: bytesOut,
      error,
    });
  }

  return function handle(req: IncomingMessage, res: ServerResponse, snap: Snapshot = getSnapshot()): void {
    const startedAt = process.hrtime.bigint();
    state.inflight++;
    const socket = req.socket;
    const bytesAtStart = socket.bytesWritten;
    const head = readClientHead(req.rawHeaders);
    const requestId = head.requestId !== undefined && REQUEST_ID.test(head.requestId) ? head.requestId : randomUUID();
    let ex: Ctx | undefined = undefined;
    res.once('close', () => {
      if (ex && !res.writableFinished) ex.abortUpstream?.(new Error('client closed the connection'));
      finish(ex, req, res, requestId, startedAt, socket, bytesAtStart);
      onEnd?.(snap);
    });

    if (state.draining) return sendError(res, requestId, 'TG_SHUTTING_DOWN', true);
    const url = req.url ?? '';
    if (url.length > snap.config.listen.maxUrlLength) return sendError(res, requestId, 'TG_URI_TOO_LONG', true);
    if (head.hostCount > 1) return sendError(res, requestId, new GatewayError('TG_BAD_HEADER', 'More than one Host header.'), true);
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused (node's own check would answer without our shape).
    if (head.hostCount === 0 && req.httpVersion === '1.1') return sendError(res, requestId, new GatewayError('TG_BAD_HEADER', 'Missing Host header.'), true);
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    if (q !== -1 && QUERY_CONTROL.test(query) && !snap.config.listen.allowQueryControlChars) {
      return sendError(res, requestId, new GatewayError('TG_BAD_PATH', 'Control characters are not allowed in the query.'), true);
    }
    const decoded = checkPath(rawPath);
    if (decoded.startsWith('TG_')) return sendError(res, requestId, decoded as 'TG_BAD_PATH', true);
    const method = req.method ?? 'GET';
    const found = findRoute(snap.routes, method, decoded, snap.hostRouting ? hostOf(head.host) : '');
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

    const { client, trusted } = clientAddress(req, snap, head.xForwardedFor);
    ex = new Ctx(req, res, requestId, route.name, client, url, method, upPath, query, match.params, headers, body, log, startedAt, route, snap);
    ex.expectContinue = head.expectContinue;
    ex.mount = mount;
    if ((req.socket as { encrypted?: boolean }).encrypted || (trusted && head.xForwardedProto?.trim().toLowerCase() === 'https')) ex.clientProto = 'https';
    if (body !== null && !req.complete) watchBodyIdle(ex, snap.config.listen.bodyIdleTimeout);

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

    if (!route.hasRequestHooks) return afterRequestHooks(ex);
    // A policy may read the body; a client waiting for 100 Continue must not stall it.
    if (ex.expectContinue && body !== null) {
      ex.expectContinue = false;
      res.writeContinue();
    }
    runRequestHooks(ex, 0);
  };

  function runRequestHooks(ex: Ctx, from: number): void {
    const chain = ex.route.chain;
    for (let i = from; i < chain.length; i++) {
      const fn = chain[i].hooks.onRequest;
      if (!fn) continue;
      let r: ReturnType<typeof fn>;
      try {
        r = fn.call(chain[i].hooks, ex);
      } catch (e) {
        return failed(ex, e, chain[i].label);
      }
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        (r as Promise<void | Reply>).then(
          (reply) => (reply ? replyAt(ex, i, reply) : runRequestHooks(ex, i + 1)),
          (e) => failed(ex, e, chain[i].label),
        );
        return;
      }
      if (r) return replyAt(ex, i, r as Reply);
    }
    afterRequestHooks(ex);
  }

  function afterRequestHooks(ex: Ctx): void {
    // Already answered meanwhile (body idle timeout): nothing more goes out.
    if (ex.res.destroyed || ex.res.headersSent) return;
    const route = ex.route;
    if (route.respond) return replyAt(ex, route.chain.length, route.respond);
    if (ex.expectContinue && ex.body !== null && typeof ex.body !== 'string' && !Buffer.isBuffer(ex.body)) {
      ex.expectContinue = false;
      ex.res.writeContinue();
    }
    if (ex.body !== null && ex.body !== ex.req && (typeof ex.body === 'string' || Buffer.isBuffer(ex.body))) {
      ex.headers['content-length'] = String(Buffer.byteLength(ex.body));
      delete ex.headers['transfer-encoding'];
    }
    dispatch(ex);
  }

  /** A reply made at chain position `at` goes back through the response hooks of the policies before it. */
  function replyAt(ex: Ctx, at: number, reply: Reply): void {
    if (ex.res.destroyed || ex.res.headersSent) return;
    let hasOuter = false;
    for (let i = 0; i < at && !hasOuter; i++) hasOuter = ex.route.chain[i].hooks.onResponse !== undefined;
    if (!hasOuter) return writeResponse(ex.res, ex.requestId, reply, ex.extraHeaders);
    runResponseHooks(ex, at - 1, replyToResponse(reply));
  }

  function runResponseHooks(ex: Ctx, from: number, r: UpstreamResponse): void {
    const chain = ex.route.chain;
    for (let i = from; i >= 0; i--) {
      const fn = chain[i].hooks.onResponse;
      if (!fn) continue;
      let out: ReturnType<typeof fn>;
      try {
        out = fn.call(chain[i].hooks, ex, r);
      } catch (e) {
        r.body?.destroy();
        return failed(ex, e, chain[i].label);
      }
      if (out && typeof (out as Promise<unknown>).then === 'function') {
        (out as Promise<void | UpstreamResponse>).then(
          (next) => runResponseHooks(ex, i - 1, next ?? r),
          (e) => {
            r.body?.destroy();
            failed(ex, e, chain[i].label);
          },
        );
        return;
      }
      if (out) r = out as UpstreamResponse;
    }
    if (ex.res.destroyed) {
      r.body?.destroy();
      return;
    }
    r.headers['via'] = VIA;
    writeResponse(ex.res, ex.requestId, r, ex.extraHeaders);
  }

  function failed(ex: Ctx, e: unknown, label: string | undefined): void {
    if (e instanceof GatewayError) return sendError(ex.res, ex.requestId, e, false, ex.extraHeaders);
    log.error({ err: e, requestId: ex.requestId, route: ex.route.name, policy: label }, 'policy failed');
    sendError(ex.res, ex.requestId, 'TG_INTERNAL');
  }

  function upstreamFailed(ex: Ctx, err: unknown): void {
    const ge = upstreamError(err);
    if (ex.res.headersSent) {
      ex.res.destroy(ge);
      return;
    }
    if (ex.route.hasErrorHooks) return runErrorHooks(ex, ge, 0);
    sendError(ex.res, ex.requestId, ge, false, ex.extraHeaders);
  }

  function runErrorHooks(ex: Ctx, ge: GatewayError, from: number): void {
    const chain = ex.route.chain;
    for (let i = from; i < chain.length; i++) {
      const fn = chain[i].hooks.onUpstreamError;
      if (!fn) continue;
      let r: ReturnType<typeof fn>;
      try {
        r = fn.call(chain[i].hooks, ex, ge);
      } catch (e) {
        return failed(ex, e, chain[i].label);
      }
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        (r as Promise<void | Reply>).then(
          (reply) => (reply ? replyAt(ex, i, reply) : runErrorHooks(ex, ge, i + 1)),
          (e) => failed(ex, e, chain[i].label),
        );
        return;
      }
      if (r) return replyAt(ex, i, r as Reply);
    }
    sendError(ex.res, ex.requestId, ge, false, ex.extraHeaders);
  }

  function dispatch(ex: Ctx): void {
    const upstream = ex.route.upstream!;
    const target = upstream.pick();
    const res = ex.res;
    const path = target.basePath + ex.path + (ex.query ? '?' + ex.query : '');
    // Response-phase policies put a stream between upstream and client, unless all of them can edit the
    // response in place on the direct path (onResponseHead) and none asks for the stream for this response.
    let transform = ex.route.hasResponseHooks;
    let filters: BodyFilter[] | undefined;
    let started = false;
    let paused = false;
    let resumeFn: (() => void) | undefined;
    let stream: Readable | undefined;
    ex.attempts++;
    ex.upstreamStart = process.hrtime.bigint();
    const onDrain = () => {
      paused = false;
      resumeFn?.();
    };

    const handler: DispatchHandler = {
      onConnect(abort) {
        ex.abortUpstream = abort;
        if (res.destroyed) abort(new Error('client closed the connection'));
      },
      onHeaders(status, rawHeaders, resume) {
        ex.upstreamMs = Number(process.hrtime.bigint() - ex.upstreamStart) / 1e6;
        if (status < 200) return true; // 1xx interim responses are not forwarded
        started = true;
        resumeFn = resume;
        const flat = filterResponseHeaders(rawHeaders, [], ex.route.redirects, ex.mount);
        if (transform && ex.route.responseHeadHooks) {
          let f: BodyFilter[] | undefined | 'stream';
          try {
            f = headFilters(ex, status, flat);
          } catch (e) {
            ex.abortUpstream?.(e as Error);
            failed(ex, e, 'onResponseHead');
            return false;
          }
          if (f !== 'stream') {
            transform = false;
            filters = f;
          }
        }
        if (!transform) {
          flat.push('x-request-id', ex.requestId, 'via', VIA);
          if (ex.extraHeaders) for (const h of ex.extraHeaders) flat.push(h);
          res.writeHead(status, flat);
          return true;
        }
        const noBody = ex.method === 'HEAD' || NO_BODY_STATUS(status);
        stream = noBody
          ? undefined
          : new Readable({
              read() {
                if (paused) {
                  paused = false;
                  resume();
                }
              },
            });
        runResponseHooks(ex, ex.route.chain.length - 1, { status, headers: flatToRecord(flat), body: stream ?? null });
        return true;
      },
      onData(chunk) {
        if (stream) {
          if (!stream.push(chunk)) paused = true;
          return !paused;
        }
        if (transform) return true;
        if (filters) {
          for (const f of filters) chunk = f.chunk(chunk);
          if (chunk.length === 0) return true;
        }
        if (!res.write(chunk)) {
          if (!paused) {
            paused = true;
            res.once('drain', onDrain);
          }
          return false;
        }
        return true;
      },
      onComplete() {
        if (stream) stream.push(null);
        else if (!transform) {
          const tail = filters && endFilters(filters);
          if (tail?.length) res.write(tail);
          res.end();
        }
      },
      onError(err) {
        if (stream) {
          stream.destroy(upstreamError(err));
          return;
        }
        if (!started && !res.destroyed && ex.attempts <= upstream.retryAttempts && ex.body === null && IDEMPOTENT.has(ex.method) && isRetryable(err)) {
          ex.log.debug({ requestId: ex.requestId, attempt: ex.attempts, err: (err as Error).message }, 'retrying upstream request');
          dispatch(ex);
          return;
        }
        if (res.destroyed || res.writableEnded) return;
        upstreamFailed(ex, err);
      },
    };

    try {
      target.pool.dispatch(
        {
          path,
          method: ex.method,
          headers: ex.headers as Record<string, string | string[]>,
          body: ex.body,
          // Let the client's stream pace the upload; undici reads it as it is consumed.
          idempotent: IDEMPOTENT.has(ex.method),
        },
        handler,
      );
    } catch (e) {
      upstreamFailed(ex, e);
    }
  }
}
