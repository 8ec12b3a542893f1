/**
 * The fill: the one request that went upstream for a key. Its response is stored when RFC 9111 and the
 * route allow it, while it streams to the client and to the requests waiting on the same key (the fan-out
 * in coalesce.ts). A 304 to a conditional fill refreshes the stored entry; an error or a 5xx/429 may be
 * answered with the stale entry (RFC 5861 stale-if-error).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { GatewayError } from '../../errors.js';
import { readAll } from '../../lib/body.js';
import { replyToResponse } from '../../proxy/reply.js';
import type { CacheHit, CacheMeta, CacheWriteStream } from '../../cache/stores/index.js';
import type { Exchange, Headers, Reply, UpstreamResponse } from '../types.js';
import { answerFromEntry } from './answer.js';
import { Fanout } from './coalesce.js';
import type { Fill } from './coalesce.js';
import { assess, mergeNotModified } from './freshness.js';
import type { EntryState } from './freshness.js';
import { markForwarded, storedHead, ttlOf } from './headers.js';
import { isPromise, requestView, settle } from './route.js';
import type { CacheExchange, CacheRoute } from './route.js';

/** Bodies up to this size are read whole before answering when an ETag must be generated for them. */
const ETAG_BUFFER_LIMIT = 1024 * 1024;
/** Pseudo header under which an entry keeps the upstream's own Cache-Status. */
const UPSTREAM_CACHE_STATUS = 'x-tollgate-upstream-cache-status';
/**
 * Once a fill's body has ended, its store write must finish within this time or the fill is released
 * anyway (the entry may still land later): waiters and new requests never wait on a store that hangs.
 */
const FILL_COMMIT_BOUND_MS = 5_000;
const noop = (): void => {};

function varyNames(v: string | string[]): string[] {
  const names = new Set<string>();
  for (const part of (Array.isArray(v) ? v.join(',') : v).split(',')) {
    const n = part.trim().toLowerCase();
    if (n) names.add(n);
  }
  return [...names].sort();
}

function tagsOf(h: Headers, names: readonly string[]): string[] {
  const tags = new Set<string>();
  for (const name of names) {
    const v = h[name];
    if (v === undefined) continue;
    // Surrogate-Key (Fastly) is space-separated; Cache-Tag (Cloudflare) and others comma-separated.
    for (const t of (Array.isArray(v) ? v.join(' ') : v).split(name === 'surrogate-key' ? /\s+/ : /[\s,]+/)) if (t) tags.add(t);
  }
  return [...tags];
}

/** A strong ETag from the body's bytes (RFC 9110 §8.8.3). */
function strongEtag(digest: Buffer): string {
  return `"${digest.toString('base64url').slice(0, 27)}"`;
}

/** The headers waiters of a shared fill answer with. */
function waiterHeaders(r: UpstreamResponse): Headers {
  const h = { ...r.headers };
  h['cache-status'] = `${String(h['cache-status'])}; collapsed`;
  return h;
}

/** The response phase of the fill: store what may be stored, share it with the waiters. */
export async function completeFill(rt: CacheRoute, ex: Exchange, cx: CacheExchange, r: UpstreamResponse): Promise<UpstreamResponse> {
  const { opts, store, lease, log } = rt;
  const fill = cx.fill!;
  const now = Date.now();
  if (r.status === 304 && cx.stale) return revalidated(rt, ex, cx, r, fill, now);
  const s = cx.stale;
  if ((r.status >= 500 || r.status === 429) && s && now < s.state.sieUntil) {
    r.body?.resume();
    settle(rt, fill, { kind: 'stale' });
    lease.count('stale');
    const reply = await answerFromEntry(s.hit, s.state, now, {
      xcache: 'STALE',
      status: `fwd=stale; fwd-status=${r.status}; ttl=${ttlOf(s.state, now)}; detail=stale-if-error`,
      request: cx.reqHeaders,
      head: false,
    });
    return replyToResponse(reply);
  }

  const a = assess(opts, requestView(ex, cx), r.status, r.headers, now);
  if (!a.storable) {
    lease.count('miss');
    log.debug({ requestId: ex.requestId, reason: a.reason }, 'response not stored');
    markForwarded(r.headers, 'MISS', `fwd=${cx.forward}`);
    if ((r.status >= 500 || r.status === 429) && r.body) {
      // The same request would get the same failure: waiters share it instead of piling onto the upstream.
      const fanout = new Fanout(r.body, { abandon: ex.detachUpstream() });
      fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders(r), fanout, buffer: null, vary: undefined, varyKey: undefined });
      const body = fanout.attach();
      const end = (): void => settle(rt, fill, { kind: 'retry' });
      r.body.once('close', end);
      return { ...r, body: body ?? null };
    }
    settle(rt, fill, { kind: 'pass' });
    return r;
  }

  let key = cx.key;
  let vary: string[] | undefined;
  if (r.headers['vary'] !== undefined) {
    vary = varyNames(r.headers['vary']);
    key = rt.keys.variant(cx.baseKey, vary, cx.reqHeaders);
    if (cx.vary?.join(',') !== vary.join(',')) writeMarker(rt, cx.baseKey, vary, a.deleteAt, now);
    if (!rt.inflight.has(key)) rt.inflight.set(key, fill);
  }
  const tags = tagsOf(r.headers, opts.tagHeaders);
  for (const n of rt.tagHeaders) delete r.headers[n];
  const head = storedHead(r.headers, rt.notStored);
  if (head.upstreamCacheStatus !== undefined) head.headers.push([UPSTREAM_CACHE_STATUS, head.upstreamCacheStatus]);
  const meta: CacheMeta = { status: r.status, headers: head.headers, storedAt: now, tags, deleteAt: a.deleteAt, policy: a.state };
  const cl = r.headers['content-length'];
  const length = typeof cl === 'string' && /^\d+$/.test(cl) ? Number(cl) : undefined;
  const wantEtag = opts.etag && a.state.etag === undefined && r.body !== null;
  lease.count('miss');

  if (wantEtag && length !== undefined && length <= ETAG_BUFFER_LIMIT) {
    let buf: Buffer;
    try {
      buf = await readAll(r.body!, length);
    } catch (err) {
      const error = new GatewayError('TG_UPSTREAM_ERROR', undefined, { cause: err });
      settle(rt, fill, { kind: 'error', error });
      throw error;
    }
    const etag = strongEtag(createHash('sha256').update(buf).digest());
    meta.headers.push(['etag', etag]);
    a.state.etag = etag;
    a.state.etagGenerated = true;
    r.headers['etag'] = etag;
    const writer = store.createWriteStream(key, meta, { expectedSize: buf.length });
    afterWrite(rt, writer, fill, key, undefined, meta, null);
    writer.end(buf);
    markForwarded(r.headers, 'MISS', `fwd=${cx.forward}; stored`);
    fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders(r), fanout: undefined, buffer: buf, vary, varyKey: vary ? key : undefined });
    return { status: r.status, headers: r.headers, body: replyToResponse({ status: r.status, body: buf }).body };
  }

  const writer = store.createWriteStream(key, meta, length !== undefined ? { expectedSize: length } : undefined);
  const hash = wantEtag ? createHash('sha256') : undefined;
  afterWrite(rt, writer, fill, key, hash, meta, r.body);
  markForwarded(r.headers, 'MISS', `fwd=${cx.forward}; stored`);
  if (r.body === null) {
    writer.end();
    fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders(r), fanout: undefined, buffer: null, vary, varyKey: vary ? key : undefined });
    return r;
  }
  const fanout = new Fanout(r.body, { writer, abandon: ex.detachUpstream(), onChunk: hash ? (c) => hash.update(c) : undefined });
  fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders(r), fanout, buffer: null, vary, varyKey: vary ? key : undefined });
  return { status: r.status, headers: r.headers, body: fanout.attach() ?? null };
}

/** RFC 9111 §4.3.4: a 304 to the fill's conditional request freshens the stored entry, which answers. */
async function revalidated(rt: CacheRoute, ex: Exchange, cx: CacheExchange, r: UpstreamResponse, fill: Fill, now: number): Promise<UpstreamResponse> {
  const { hit, state } = cx.stale!;
  r.body?.resume();
  const merged = mergeNotModified(hit.meta.headers, r.headers, rt.notMerged);
  const record: Headers = {};
  for (const [n, v] of merged) record[n] = record[n] === undefined ? v : ([] as string[]).concat(record[n], v);
  const a = assess(rt.opts, requestView(ex, cx), hit.meta.status, record, now);
  if (state.etagGenerated && a.state.etag === state.etag) a.state.etagGenerated = true;
  const meta: CacheMeta = { ...hit.meta, headers: merged, storedAt: now, deleteAt: a.deleteAt, policy: a.state };
  try {
    if (!a.storable || fill.invalidated) await rt.store.delete(cx.key);
    else await rt.store.updateMeta(cx.key, meta);
  } catch (err) {
    rt.log.warn({ err: (err as Error).message }, 'cache entry update after 304 failed');
  }
  settle(rt, fill, { kind: 'updated' });
  rt.lease.count('revalidated');
  const refreshed: CacheHit = { key: hit.key, meta, size: hit.size, body: hit.body, open: () => hit.open() };
  const params = `fwd=${cx.forward}; fwd-status=304; ttl=${ttlOf(a.state, now)}`;
  const reply = await answerFromEntry(refreshed, a.state, now, { xcache: 'REVALIDATED', status: params, request: cx.reqHeaders, head: false });
  return replyToResponse(reply);
}

/** The upstream failed before answering: serve the stale entry when stale-if-error allows, else tell the waiters. */
export function fillFailed(rt: CacheRoute, cx: CacheExchange, err: GatewayError): void | Reply | Promise<void | Reply> {
  const fill = cx.fill!;
  const s = cx.stale;
  const now = Date.now();
  if (s && !cx.background && now < s.state.sieUntil) {
    settle(rt, fill, { kind: 'stale' });
    rt.lease.count('stale');
    const reply = answerFromEntry(s.hit, s.state, now, {
      xcache: 'STALE',
      status: `fwd=stale; ttl=${ttlOf(s.state, now)}; detail=stale-if-error`,
      request: cx.reqHeaders,
      head: false,
    });
    return isPromise<Reply>(reply) ? reply.catch(() => undefined) : reply;
  }
  settle(rt, fill, { kind: 'error', error: err });
}

/** `body`: the upstream body feeding the writer (null: already complete). */
function afterWrite(
  rt: CacheRoute,
  writer: CacheWriteStream,
  fill: Fill,
  key: string,
  hash: ReturnType<typeof createHash> | undefined,
  meta: CacheMeta,
  body: Readable | null,
): void {
  writer.on('error', noop);
  let bound: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (bound || fill.over) return;
    bound = setTimeout(() => {
      if (fill.over) return;
      rt.log.warn({ key: key.split('\u0000')[0] }, 'cache write still pending after its body ended; fill released');
      settle(rt, fill, { kind: 'retry' });
    }, FILL_COMMIT_BOUND_MS);
    bound.unref();
  };
  if (body === null) arm();
  else body.once('close', arm);
  finished(writer)
    .then(async () => {
      if (fill.invalidated) await rt.store.delete(key);
      else if (hash && writer.stored) {
        const etag = strongEtag(hash.digest());
        const state = { ...(meta.policy as EntryState), etag, etagGenerated: true };
        await rt.store.updateMeta(key, { ...meta, headers: [...meta.headers, ['etag', etag]], policy: state });
      }
    })
    .catch((err: Error) => rt.log.debug({ err: err.message, key: key.split('\u0000')[0] }, 'cache fill not stored'))
    .finally(() => {
      clearTimeout(bound);
      settle(rt, fill, { kind: 'retry' });
    });
}

/** The entry under the base key that tells lookups which request headers the response varies on. */
function writeMarker(rt: CacheRoute, baseKey: string, vary: string[], deleteAt: number, now: number): void {
  const state: EntryState = { v: 1, freshUntil: 0, swrUntil: 0, sieUntil: 0, initialAge: 0, vary };
  const w = rt.store.createWriteStream(baseKey, { status: 200, headers: [], storedAt: now, tags: [], deleteAt, policy: state }, { expectedSize: 0 });
  w.on('error', (err: Error) => rt.log.debug({ err: err.message }, 'cache vary marker not stored'));
  w.end();
}
