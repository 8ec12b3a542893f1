/**
 * The cache policy: an RFC 9111 shared cache per route (https://www.rfc-editor.org/rfc/rfc9111).
 *
 * Request phase (priority 700: after auth and limits, before transforms and credentials, so keys see the
 * client's request and never an injected credential):
 * - GET/HEAD: look the key up. Fresh: answer from the entry (the memory fast path is one Map lookup and a
 *   precomputed header record). Stale within stale-while-revalidate: answer stale and refresh in the
 *   background. Otherwise become the fill for the key (revalidating with stored validators when there are
 *   some) or, when a fill is already running, wait for it and share its body.
 * - POST/PUT/PATCH/DELETE: remember the path; a successful answer invalidates it (and configured related
 *   paths) before the response reaches the client.
 * Response phase: store what RFC 9111 and the route allow while streaming it to the client and waiters.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { GatewayError } from '../../errors.js';
import { definePolicy, stateKey } from '../types.js';
import type { Exchange, Headers, Reply, UpstreamResponse } from '../types.js';
import { answerFromEntry, replyAsResponse } from './answer.js';
import { Fanout, Fill } from './coalesce.js';
import type { FillOutcome } from './coalesce.js';
import { assess, flatHeaders, loadFreshness, mergeNotModified, notModified, parseCacheControl } from './freshness.js';
import type { EntryState, RequestView } from './freshness.js';
import { PreparedHit, markForwarded, storedHead, ttlOf } from './headers.js';
import { createKeyBuilder, pathPrefixes } from './key.js';
import { CacheStorePool } from './registry.js';
import type { CacheStoreLease, StoreRequest } from './registry.js';
import { cacheSchema } from './schema.js';
import type { CacheOptions } from './schema.js';
import { MemoryStore, TieredStore } from './stores/index.js';
import type { CacheHit, CacheMeta, CacheStore, CacheWriteStream } from './stores/index.js';

const STATE = stateKey<CacheExchange>('cache');
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Client conditionals are answered by the cache; a fill asks the upstream for the full body. */
const CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range'];
/** Bodies up to this size are read whole before answering when an ETag must be generated for them. */
const ETAG_BUFFER_LIMIT = 1024 * 1024;
/** Request headers not copied onto a background revalidation request. */
const NOT_REPLAYED = new Set(['connection', 'keep-alive', 'content-length', 'transfer-encoding', 'expect', 'upgrade', 'range', 'cache-control', 'pragma', ...CONDITIONALS]);
/** Request headers the request view for http-cache-semantics leaves out when the gateway identified the caller. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization']);
/** Pseudo header under which an entry keeps the upstream's own Cache-Status. */
const UPSTREAM_CACHE_STATUS = 'x-tollgate-upstream-cache-status';
const noop = (): void => {};
/** Log an unreachable store at most this often. */
const UNAVAILABLE_LOG_MS = 10_000;
/**
 * Once a fill's body has ended, its store write must finish within this time or the fill is released
 * anyway (the entry may still land later): waiters and new requests never wait on a store that hangs.
 */
const FILL_COMMIT_BOUND_MS = 5_000;

type Mode = 'bypass' | 'unsafe' | 'pass' | 'fill' | 'wait';

interface CacheExchange {
  mode: Mode;
  /** Normalized client target (path and query). */
  target: string;
  baseKey: string;
  /** The storage key: baseKey, or its variant once the Vary'd headers are known. */
  key: string;
  vary: string[] | undefined;
  stale: { hit: CacheHit; state: EntryState } | undefined;
  fill: Fill | undefined;
  background: boolean;
  /** Cache-Status `fwd` reason when the request goes upstream. */
  forward: 'uri-miss' | 'vary-miss' | 'stale' | 'request' | 'bypass';
  /** The store could not be reached: the request bypasses the cache (Cache-Status `detail=store-unavailable`). */
  unavailable?: boolean;
  /** The client's request headers as the cache saw them (before transforms and credentials). */
  reqHeaders: Headers;
}

function isPromise<T>(v: unknown): v is Promise<T> {
  return v !== null && typeof v === 'object' && typeof (v as Promise<T>).then === 'function';
}

/** RFC 9111 §5.2.1.4 and §5.4: the client asks for a validated answer. */
function requestNoCache(h: Headers): boolean {
  if (h['cache-control'] !== undefined) {
    const cc = parseCacheControl(h['cache-control']);
    return cc['no-cache'] !== undefined || cc['max-age'] === '0';
  }
  const p = h['pragma'];
  return p !== undefined && /no-cache/i.test(String(p));
}

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

async function readAll(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > max) throw new Error('body longer than announced');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n);
}

/** A synchronous lookup for the stores that keep entries in process memory; undefined for the others. */
function syncPeek(store: CacheStore): ((key: string) => CacheHit | undefined) | undefined {
  if (store instanceof MemoryStore) return (key) => store.peek(key);
  return undefined;
}

export const cachePolicy = definePolicy({
  name: 'cache',
  description: 'HTTP cache (RFC 9111): stores, coalesces, revalidates and invalidates upstream responses.',
  priority: 700,
  schema: cacheSchema,
  async create(opts: CacheOptions, deps) {
    await loadFreshness();
    const req: StoreRequest = { kind: opts.store, dir: resolve(deps.configDir, opts.dir), maxSize: opts.maxSize, maxEntrySize: opts.maxEntrySize };
    // Without a registry (compiling for `tollgate check`, unit tests) the route gets a private memory store.
    const privatePool = deps.services.cacheStores ? undefined : new CacheStorePool(deps.log);
    const lease: CacheStoreLease = deps.services.cacheStores
      ? await deps.services.cacheStores.acquire(req)
      : await privatePool!.registry({ url: '', timeout: 0 }).acquire({ ...req, kind: 'memory' });
    const store = lease.store;
    const peek = syncPeek(store);
    const small = store instanceof TieredStore ? store.tier('small') : undefined;
    const smallPeek = small ? syncPeek(small) : undefined;
    const large = store instanceof TieredStore ? store.tier('large') : undefined;
    const keys = createKeyBuilder(deps.routeName, opts.key, opts.shared, deps.credentialLocations);
    const inflight = new Map<string, Fill>();
    const backgroundPending = new Set<string>();
    const prepared = new WeakMap<CacheHit, PreparedHit>();
    const tagHeaders = new Set(opts.tagHeaders);
    const notStored = new Set([...opts.tagHeaders, ...(opts.setCookie === 'strip' ? ['set-cookie'] : [])]);
    const notMerged = new Set([...notStored, 'x-request-id', 'x-upstream-request-id', 'via', 'age', 'x-cache', 'cache-status', 'connection', 'keep-alive', 'transfer-encoding']);
    const log = deps.log;
    const origins = new Set<string>();
    for (const u of [deps.publicUrl, deps.upstreamUrl]) {
      try {
        if (u) origins.add(new URL(u).origin);
      } catch {
        // Not a URL: nothing to compare Location headers with.
      }
    }

    // Only stores that can become unreachable (Redis) have it; the others pay nothing.
    const available = store.available?.bind(store);
    let lastUnavailableLog = 0;
    function storeUnavailable(ex: Exchange, cx: CacheExchange, err?: Error): void {
      cx.unavailable = true;
      if (Date.now() - lastUnavailableLog < UNAVAILABLE_LOG_MS) return;
      lastUnavailableLog = Date.now();
      log.warn({ err: err?.message, requestId: ex.requestId }, 'cache store unavailable; answering from the upstream without caching');
    }

    const safeGet = (ex: Exchange, cx: CacheExchange, key: string): Promise<CacheHit | undefined> =>
      store.get(key).catch((err: Error) => {
        // A store that cannot be reached is bypassed; a broken entry (bad JSON) is only a miss.
        if (available && !available()) storeUnavailable(ex, cx, err);
        else log.warn({ err: err.message }, 'cache lookup failed; treating as a miss');
        return undefined;
      });

    function lookup(ex: Exchange, cx: CacheExchange, key: string): CacheHit | undefined | Promise<CacheHit | undefined> {
      if (peek) return peek(key);
      if (smallPeek && large) {
        const h = smallPeek(key);
        if (h !== undefined) return h;
        return large.get(key).catch(() => undefined);
      }
      return safeGet(ex, cx, key);
    }

    function stateOf(hit: CacheHit): EntryState | undefined {
      const p = hit.meta.policy as EntryState | undefined;
      return p && p.v === 1 ? p : undefined;
    }

    function requestView(ex: Exchange, cx: CacheExchange): RequestView {
      return { method: 'GET', url: cx.target, headers: flatHeaders(cx.reqHeaders, ex.consumer && !ex.consumer.anonymous ? CREDENTIAL_HEADERS : undefined) };
    }

    function settle(fill: Fill, outcome: FillOutcome): void {
      fill.resolve(outcome);
      for (const [k, f] of inflight) if (f === fill) inflight.delete(k);
      fill.finish();
    }

    // ---- request phase ----

    function start(ex: Exchange, cx: CacheExchange): void | Reply | Promise<void | Reply> {
      if (available && !available()) {
        storeUnavailable(ex, cx);
        return decide(ex, cx, undefined);
      }
      const first = lookup(ex, cx, cx.baseKey);
      if (isPromise<CacheHit | undefined>(first)) return first.then((hit) => afterBase(ex, cx, hit));
      return afterBase(ex, cx, first);
    }

    function afterBase(ex: Exchange, cx: CacheExchange, hit: CacheHit | undefined): void | Reply | Promise<void | Reply> {
      const st = hit ? stateOf(hit) : undefined;
      if (st?.vary) cx.vary = st.vary;
      else if (hit && !cx.vary) return decide(ex, cx, st ? hit : undefined);
      if (!cx.vary) return decide(ex, cx, undefined);
      cx.key = keys.variant(cx.baseKey, cx.vary, ex.headers);
      cx.forward = 'vary-miss';
      const v = lookup(ex, cx, cx.key);
      if (isPromise<CacheHit | undefined>(v)) return v.then((h) => decide(ex, cx, h));
      return decide(ex, cx, v);
    }

    function decide(ex: Exchange, cx: CacheExchange, hit: CacheHit | undefined): void | Reply | Promise<void | Reply> {
      if (cx.unavailable) {
        // No fill, no waiting on one: nothing here may outlive this request or wait for the store to return.
        cx.mode = 'pass';
        return;
      }
      const h = ex.headers;
      cx.stale = undefined;
      const st = hit ? stateOf(hit) : undefined;
      if (hit && st && !st.vary) {
        const now = Date.now();
        const forced = cx.background || ((h['cache-control'] !== undefined || h['pragma'] !== undefined) && requestNoCache(h));
        if (!forced) {
          if (now < st.freshUntil) return serveFresh(ex, cx, hit, st, now);
          if (now < st.swrUntil) {
            revalidateInBackground(ex, cx);
            lease.count('stale');
            return fromEntryOrMiss(ex, cx, hit, st, now, 'STALE', `hit; ttl=${ttlOf(st, now)}; detail=stale-while-revalidate`);
          }
        }
        cx.stale = { hit, state: st };
        cx.forward = forced && !cx.background ? 'request' : 'stale';
      }
      if (h['range'] !== undefined) {
        cx.mode = 'bypass';
        cx.forward = 'bypass';
        return;
      }
      if (ex.method === 'HEAD') {
        cx.mode = 'pass';
        return;
      }
      const running = inflight.get(cx.key);
      if (running) {
        // Someone is already refreshing this entry: the background request has nothing to do.
        if (cx.background) return { status: 204, headers: { 'x-cache': 'BYPASS' }, body: null };
        cx.mode = 'wait';
        return join(ex, cx, running);
      }
      lead(ex, cx);
    }

    function serveFresh(ex: Exchange, cx: CacheExchange, hit: CacheHit, st: EntryState, now: number): Reply | Promise<void | Reply> {
      lease.count('hit');
      const h = ex.headers;
      if (hit.body !== undefined && h['range'] === undefined) {
        let p = prepared.get(hit);
        if (p === undefined) {
          p = new PreparedHit(hit, st);
          prepared.set(hit, p);
        }
        p.refresh(now);
        if ((h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined) && notModified(h, st)) {
          return { status: 304, headers: p.notModifiedHeaders, body: null };
        }
        if (ex.method === 'HEAD') return { status: hit.meta.status, headers: p.headers, body: null };
        lease.served(hit.size);
        return p.reply;
      }
      return fromEntryOrMiss(ex, cx, hit, st, now, 'HIT', `hit; ttl=${ttlOf(st, now)}`);
    }

    /** An answer from the entry; a disk body that vanished since the lookup makes it a miss. */
    function fromEntryOrMiss(ex: Exchange, cx: CacheExchange, hit: CacheHit, st: EntryState, now: number, xcache: 'HIT' | 'STALE', status: string): Reply | Promise<void | Reply> {
      const head = ex.method === 'HEAD';
      const r = answerFromEntry(hit, st, now, { xcache, status, request: ex.headers, head });
      if (!isPromise<Reply>(r)) {
        if (!head) lease.served(hit.size);
        return r;
      }
      return r.then(
        (reply) => {
          if (!head) lease.served(hit.size);
          return reply;
        },
        () => decide(ex, cx, undefined),
      );
    }

    function lead(ex: Exchange, cx: CacheExchange): void {
      const fill = new Fill(cx.key);
      inflight.set(cx.key, fill);
      cx.fill = fill;
      cx.mode = 'fill';
      cx.reqHeaders = { ...ex.headers };
      for (const n of CONDITIONALS) delete ex.headers[n];
      const st = cx.stale?.state;
      if (st) {
        if (st.etag !== undefined && !st.etagGenerated) ex.headers['if-none-match'] = st.etag;
        if (st.lastModified !== undefined) ex.headers['if-modified-since'] = st.lastModified;
      }
    }

    function join(ex: Exchange, cx: CacheExchange, fill: Fill): Promise<void | Reply> {
      return fill.head.then((out): void | Reply | Promise<void | Reply> => {
        switch (out.kind) {
          case 'share': {
            if (out.vary && out.varyKey !== keys.variant(cx.baseKey, out.vary, ex.headers)) {
              // The leader's variant is not ours: look our own variant up (and lead it if missing).
              cx.vary = out.vary;
              return afterBase(ex, cx, undefined);
            }
            const body = out.buffer ?? out.fanout?.attach() ?? null;
            if (body === null && out.fanout) return fill.done.then(() => restart(ex, cx));
            lease.count('miss');
            return { status: out.status, headers: { ...out.headers }, body: ex.method === 'HEAD' ? null : body };
          }
          case 'pass':
            cx.mode = 'pass';
            return;
          case 'retry':
          case 'updated':
            return restart(ex, cx);
          case 'error':
          case 'stale': {
            const s = cx.stale;
            const now = Date.now();
            if (s && now < s.state.sieUntil) {
              lease.count('stale');
              return fromEntryOrMiss(ex, cx, s.hit, s.state, now, 'STALE', `fwd=stale; ttl=${ttlOf(s.state, now)}; detail=stale-if-error`);
            }
            if (out.kind === 'error') throw out.error;
            cx.mode = 'pass';
            return;
          }
        }
      });
    }

    function restart(ex: Exchange, cx: CacheExchange): void | Reply | Promise<void | Reply> {
      cx.key = cx.baseKey;
      cx.vary = undefined;
      cx.mode = 'fill';
      cx.forward = 'uri-miss';
      return start(ex, cx);
    }

    /**
     * RFC 5861 stale-while-revalidate: the refresh replays this request in-process from the cache onward (the
     * policies after it, then the upstream), detached from the client; this policy's onResponse stores it.
     */
    function revalidateInBackground(ex: Exchange, cx: CacheExchange): void {
      if (inflight.has(cx.key) || backgroundPending.has(cx.key)) return;
      const key = cx.key;
      backgroundPending.add(key);
      void ex
        .replay((copy) => {
          copy.method = 'GET';
          for (const name of Object.keys(copy.headers)) if (NOT_REPLAYED.has(name)) delete copy.headers[name];
          const target = cx.target;
          const baseKey = keys.base(target, 'GET', keys.scope(copy.consumer), copy.headers);
          const bx: CacheExchange = { mode: 'fill', target, baseKey, key: baseKey, vary: undefined, stale: undefined, fill: undefined, background: true, forward: 'uri-miss', reqHeaders: copy.headers };
          copy.set(STATE, bx);
          return start(copy, bx);
        })
        .finally(() => backgroundPending.delete(key));
    }

    // ---- response phase ----

    function answerWaiters(r: UpstreamResponse): Headers {
      const h = { ...r.headers };
      return h;
    }

    async function invalidate(ex: Exchange, cx: CacheExchange, r: UpstreamResponse): Promise<void> {
      const q = cx.target.indexOf('?');
      const prefixes = pathPrefixes(q === -1 ? cx.target : cx.target.slice(0, q));
      for (const rel of opts.invalidate) {
        const p = rel.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (m, n: string) => (ex.params[n] !== undefined ? encodeURIComponent(ex.params[n]) : m));
        if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
        else prefixes.push(...pathPrefixes(p));
      }
      // RFC 9111 §4.4: Location and Content-Location of the response are invalidated too (same origin only).
      for (const name of ['location', 'content-location']) {
        const v = r.headers[name];
        if (typeof v !== 'string' || v === '') continue;
        try {
          const u = new URL(v, 'http://same.invalid');
          if (u.origin === 'http://same.invalid' || origins.has(u.origin)) prefixes.push(...pathPrefixes(u.pathname));
        } catch {
          // Unparseable: nothing to invalidate.
        }
      }
      for (const [k, f] of inflight) if (prefixes.some((p) => k.startsWith(p))) f.invalidated = true;
      await Promise.all(
        prefixes.map((prefix) =>
          store.purge({ prefix }).catch((err: Error) => log.warn({ err: err.message, requestId: ex.requestId }, 'cache invalidation failed')),
        ),
      );
    }

    async function revalidated(ex: Exchange, cx: CacheExchange, r: UpstreamResponse, fill: Fill, now: number): Promise<UpstreamResponse> {
      const { hit, state } = cx.stale!;
      r.body?.resume();
      const merged = mergeNotModified(hit.meta.headers, r.headers, notMerged);
      const record: Headers = {};
      for (const [n, v] of merged) record[n] = record[n] === undefined ? v : ([] as string[]).concat(record[n], v);
      const a = assess(opts, requestView(ex, cx), hit.meta.status, record, now);
      if (state.etagGenerated && a.state.etag === state.etag) a.state.etagGenerated = true;
      const meta: CacheMeta = { ...hit.meta, headers: merged, storedAt: now, deleteAt: a.deleteAt, policy: a.state };
      try {
        if (!a.storable || fill.invalidated) await store.delete(cx.key);
        else await store.updateMeta(cx.key, meta);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'cache entry update after 304 failed');
      }
      settle(fill, { kind: 'updated' });
      lease.count('revalidated');
      const refreshed: CacheHit = { key: hit.key, meta, size: hit.size, body: hit.body, open: () => hit.open() };
      const params = `fwd=${cx.forward}; fwd-status=304; ttl=${ttlOf(a.state, now)}`;
      const reply = await answerFromEntry(refreshed, a.state, now, { xcache: 'REVALIDATED', status: params, request: cx.reqHeaders, head: false });
      return replyAsResponse(reply);
    }


    async function completeFill(ex: Exchange, cx: CacheExchange, r: UpstreamResponse): Promise<UpstreamResponse> {
      const fill = cx.fill!;
      const now = Date.now();
      if (r.status === 304 && cx.stale) return revalidated(ex, cx, r, fill, now);
      const s = cx.stale;
      if ((r.status >= 500 || r.status === 429) && s && now < s.state.sieUntil) {
        r.body?.resume();
        settle(fill, { kind: 'stale' });
        lease.count('stale');
        const reply = await answerFromEntry(s.hit, s.state, now, {
          xcache: 'STALE',
          status: `fwd=stale; fwd-status=${r.status}; ttl=${ttlOf(s.state, now)}; detail=stale-if-error`,
          request: cx.reqHeaders,
          head: false,
        });
        return replyAsResponse(reply);
      }

      const a = assess(opts, requestView(ex, cx), r.status, r.headers, now);
      if (!a.storable) {
        lease.count('miss');
        log.debug({ requestId: ex.requestId, reason: a.reason }, 'response not stored');
        markForwarded(r.headers, 'MISS', `fwd=${cx.forward}`);
        if ((r.status >= 500 || r.status === 429) && r.body) {
          // The same request would get the same failure: waiters share it instead of piling onto the upstream.
          const fanout = new Fanout(r.body, { abandon: ex.detachUpstream() });
          const waiterHeaders = answerWaiters(r);
          waiterHeaders['cache-status'] = `${String(waiterHeaders['cache-status'])}; collapsed`;
          fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders, fanout, buffer: null, vary: undefined, varyKey: undefined });
          const body = fanout.attach();
          const end = (): void => settle(fill, { kind: 'retry' });
          r.body.once('close', end);
          return { ...r, body: body ?? null };
        }
        settle(fill, { kind: 'pass' });
        return r;
      }

      let key = cx.key;
      let vary: string[] | undefined;
      if (r.headers['vary'] !== undefined) {
        vary = varyNames(r.headers['vary']);
        key = keys.variant(cx.baseKey, vary, cx.reqHeaders);
        if (cx.vary?.join(',') !== vary.join(',')) writeMarker(cx.baseKey, vary, a.deleteAt, now);
        if (!inflight.has(key)) inflight.set(key, fill);
      }
      const tags = tagsOf(r.headers, opts.tagHeaders);
      for (const n of tagHeaders) delete r.headers[n];
      const head = storedHead(r.headers, notStored);
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
          settle(fill, { kind: 'error', error });
          throw error;
        }
        const etag = strongEtag(createHash('sha256').update(buf).digest());
        meta.headers.push(['etag', etag]);
        a.state.etag = etag;
        a.state.etagGenerated = true;
        r.headers['etag'] = etag;
        const writer = store.createWriteStream(key, meta, { expectedSize: buf.length });
        afterWrite(writer, fill, key, undefined, meta, null);
        writer.end(buf);
        markForwarded(r.headers, 'MISS', `fwd=${cx.forward}; stored`);
        const waiterHeaders = answerWaiters(r);
        waiterHeaders['cache-status'] = `${String(waiterHeaders['cache-status'])}; collapsed`;
        fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders, fanout: undefined, buffer: buf, vary, varyKey: vary ? key : undefined });
        return { status: r.status, headers: r.headers, body: replyAsResponse({ status: r.status, body: buf }).body };
      }

      const writer = store.createWriteStream(key, meta, length !== undefined ? { expectedSize: length } : undefined);
      const hash = wantEtag ? createHash('sha256') : undefined;
      afterWrite(writer, fill, key, hash, meta, r.body);
      markForwarded(r.headers, 'MISS', `fwd=${cx.forward}; stored`);
      const waiterHeaders = answerWaiters(r);
      waiterHeaders['cache-status'] = `${String(waiterHeaders['cache-status'])}; collapsed`;
      if (r.body === null) {
        writer.end();
        fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders, fanout: undefined, buffer: null, vary, varyKey: vary ? key : undefined });
        return r;
      }
      const fanout = new Fanout(r.body, { writer, abandon: ex.detachUpstream(), onChunk: hash ? (c) => hash.update(c) : undefined });
      fill.resolve({ kind: 'share', status: r.status, headers: waiterHeaders, fanout, buffer: null, vary, varyKey: vary ? key : undefined });
      return { status: r.status, headers: r.headers, body: fanout.attach() ?? null };
    }

    /** `body`: the upstream body feeding the writer (null: already complete). */
    function afterWrite(writer: CacheWriteStream, fill: Fill, key: string, hash: ReturnType<typeof createHash> | undefined, meta: CacheMeta, body: Readable | null): void {
      writer.on('error', noop);
      let bound: NodeJS.Timeout | undefined;
      const arm = (): void => {
        if (bound || fill.over) return;
        bound = setTimeout(() => {
          if (fill.over) return;
          log.warn({ key: key.split('\u0000')[0] }, 'cache write still pending after its body ended; fill released');
          settle(fill, { kind: 'retry' });
        }, FILL_COMMIT_BOUND_MS);
        bound.unref();
      };
      if (body === null) arm();
      else body.once('close', arm);
      finished(writer)
        .then(async () => {
          if (fill.invalidated) await store.delete(key);
          else if (hash && writer.stored) {
            const etag = strongEtag(hash.digest());
            const state = { ...(meta.policy as EntryState), etag, etagGenerated: true };
            await store.updateMeta(key, { ...meta, headers: [...meta.headers, ['etag', etag]], policy: state });
          }
        })
        .catch((err: Error) => log.debug({ err: err.message, key: key.split('\u0000')[0] }, 'cache fill not stored'))
        .finally(() => {
          clearTimeout(bound);
          settle(fill, { kind: 'retry' });
        });
    }

    function writeMarker(baseKey: string, vary: string[], deleteAt: number, now: number): void {
      const state: EntryState = { v: 1, freshUntil: 0, swrUntil: 0, sieUntil: 0, initialAge: 0, vary };
      const w = store.createWriteStream(baseKey, { status: 200, headers: [], storedAt: now, tags: [], deleteAt, policy: state }, { expectedSize: 0 });
      w.on('error', (err: Error) => log.debug({ err: err.message }, 'cache vary marker not stored'));
      w.end();
    }

    return {
      onRequest(ex) {
        const method = ex.method;
        if (method !== 'GET' && method !== 'HEAD') {
          lease.count('bypass');
          const cx: Partial<CacheExchange> = { mode: UNSAFE.has(method) ? 'unsafe' : 'bypass', target: UNSAFE.has(method) ? keys.target(ex.client.path, ex.client.query) : '' };
          ex.set(STATE, cx as CacheExchange);
          return;
        }
        const target = keys.target(ex.client.path, ex.client.query);
        const baseKey = keys.base(target, 'GET', keys.scope(ex.consumer), ex.headers);
        const cx: CacheExchange = { mode: 'fill', target, baseKey, key: baseKey, vary: undefined, stale: undefined, fill: undefined, background: false, forward: 'uri-miss', reqHeaders: ex.headers };
        ex.set(STATE, cx);
        return start(ex, cx);
      },

      onResponse(ex, r) {
        const cx = ex.get(STATE);
        if (!cx) return;
        switch (cx.mode) {
          case 'fill':
            if (cx.fill) return completeFill(ex, cx, r);
            break;
          case 'unsafe':
            markForwarded(r.headers, 'BYPASS', 'fwd=bypass');
            if (r.status >= 200 && r.status < 400) return invalidate(ex, cx, r).then(() => r);
            return r;
          case 'pass':
            if (cx.unavailable) {
              lease.count('bypass');
              markForwarded(r.headers, 'MISS', `fwd=${cx.forward}; detail=store-unavailable`);
              return r;
            }
            lease.count('miss');
            markForwarded(r.headers, 'MISS', `fwd=${cx.forward}`);
            return r;
          default:
            markForwarded(r.headers, 'BYPASS', 'fwd=bypass');
            return r;
        }
        markForwarded(r.headers, 'MISS', `fwd=${cx.forward}`);
        return r;
      },

      onUpstreamError(ex, err) {
        const cx = ex.get(STATE);
        if (!cx?.fill || cx.mode !== 'fill') return;
        const s = cx.stale;
        const now = Date.now();
        if (s && !cx.background && now < s.state.sieUntil) {
          settle(cx.fill, { kind: 'stale' });
          lease.count('stale');
          const reply = answerFromEntry(s.hit, s.state, now, {
            xcache: 'STALE',
            status: `fwd=stale; ttl=${ttlOf(s.state, now)}; detail=stale-if-error`,
            request: cx.reqHeaders,
            head: false,
          });
          return isPromise<Reply>(reply) ? reply.catch(() => undefined) : reply;
        }
        settle(cx.fill, { kind: 'error', error: err });
      },

      onDone(ex) {
        const cx = ex.get(STATE);
        // The leader ended before the upstream answered (its client left, a later policy failed): waiters retry.
        if (cx?.fill && !cx.fill.settled) settle(cx.fill, { kind: 'retry' });
      },

      async close() {
        await lease.release();
        await privatePool?.close();
      },
    };
  },
});
