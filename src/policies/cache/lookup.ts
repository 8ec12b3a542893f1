/**
 * The request phase of a cached GET/HEAD: look the key up (and its Vary variant), then decide. Fresh:
 * answer from the entry (a memory entry answers synchronously with a precomputed reply). Stale within
 * stale-while-revalidate: answer stale and refresh in the background. Otherwise become the fill for the
 * key (revalidating with stored validators when there are some) or, when a fill is already running, wait
 * for it and share its body (RFC 9111 §4; coalescing in coalesce.ts).
 */
import type { CacheHit } from '../../cache/stores/index.js';
import type { Exchange, Headers, Reply } from '../types.js';
import { answerFromEntry } from './answer.js';
import { Fill } from './coalesce.js';
import { notModified, parseCacheControl } from './freshness.js';
import type { EntryState } from './freshness.js';
import { PreparedHit, ttlOf } from './headers.js';
import { CACHE_STATE, isPromise, stateOf, storeUnavailable } from './route.js';
import type { CacheExchange, CacheRoute } from './route.js';

/** Client conditionals are answered by the cache; a fill asks the upstream for the full body. */
const CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range'];

type Decision = void | Reply | Promise<void | Reply>;

/** RFC 9111 §5.2.1.4 and §5.4: the client asks for a validated answer. */
function requestNoCache(h: Headers): boolean {
  if (h['cache-control'] !== undefined) {
    const cc = parseCacheControl(h['cache-control']);
    return cc['no-cache'] !== undefined || cc['max-age'] === '0';
  }
  const p = h['pragma'];
  return p !== undefined && /no-cache/i.test(String(p));
}

function safeGet(rt: CacheRoute, ex: Exchange, cx: CacheExchange, key: string): Promise<CacheHit | undefined> {
  return rt.store.get(key).catch((err: Error) => {
    // A store that cannot be reached is bypassed; a broken entry (bad JSON) is only a miss.
    if (rt.available && !rt.available()) storeUnavailable(rt, ex, cx, err);
    else rt.log.warn({ err: err.message }, 'cache lookup failed; treating as a miss');
    return undefined;
  });
}

function lookup(rt: CacheRoute, ex: Exchange, cx: CacheExchange, key: string): CacheHit | undefined | Promise<CacheHit | undefined> {
  if (rt.peek) {
    const hit = rt.peek(key);
    if (hit !== null) return hit;
  }
  return safeGet(rt, ex, cx, key);
}

/** The cache's request phase for a GET or HEAD: an answer, or nothing (the request goes upstream). */
export function lookupAndDecide(rt: CacheRoute, ex: Exchange, cx: CacheExchange): Decision {
  if (rt.available && !rt.available()) {
    storeUnavailable(rt, ex, cx);
    return decide(rt, ex, cx, undefined);
  }
  const first = lookup(rt, ex, cx, cx.baseKey);
  if (isPromise<CacheHit | undefined>(first)) return first.then((hit) => afterBase(rt, ex, cx, hit));
  return afterBase(rt, ex, cx, first);
}

/**
 * The hit path of a memory entry: a fresh entry, no Vary, a request without its own cache directives or
 * Range, answered from the entry's precomputed reply with no per-exchange state. Undefined: not that case;
 * take the full path (`lookupAndDecide`, or `afterBase` with this same hit).
 */
export function freshFromMemory(rt: CacheRoute, ex: Exchange, hit: CacheHit): Reply | undefined {
  if (hit.body === undefined) return undefined;
  const st = stateOf(hit);
  if (st === undefined || st.vary !== undefined) return undefined;
  const h = ex.headers;
  if (h['cache-control'] !== undefined || h['pragma'] !== undefined || h['range'] !== undefined) return undefined;
  const now = Date.now();
  if (now >= st.freshUntil) return undefined;
  rt.lease.count('hit');
  return preparedAnswer(rt, ex, hit, st, now);
}

function preparedAnswer(rt: CacheRoute, ex: Exchange, hit: CacheHit, st: EntryState, now: number): Reply {
  let p = rt.prepared.get(hit);
  if (p === undefined) {
    p = new PreparedHit(hit, st);
    rt.prepared.set(hit, p);
  }
  p.refresh(now);
  const h = ex.headers;
  if ((h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined) && notModified(h, st)) {
    return { status: 304, headers: p.notModifiedHeaders, body: null };
  }
  if (ex.method === 'HEAD') return { status: hit.meta.status, headers: p.headers, body: null };
  rt.lease.served(hit.size);
  return p.reply;
}

/** The full path after the base key's lookup (`hit`: what it found). */
export function afterBase(rt: CacheRoute, ex: Exchange, cx: CacheExchange, hit: CacheHit | undefined): Decision {
  const st = hit ? stateOf(hit) : undefined;
  if (st?.vary) cx.vary = st.vary;
  else if (hit && !cx.vary) return decide(rt, ex, cx, st ? hit : undefined);
  if (!cx.vary) return decide(rt, ex, cx, undefined);
  cx.key = rt.keys.variant(cx.baseKey, cx.vary, ex.headers);
  cx.forward = 'vary-miss';
  const v = lookup(rt, ex, cx, cx.key);
  if (isPromise<CacheHit | undefined>(v)) return v.then((h) => decide(rt, ex, cx, h));
  return decide(rt, ex, cx, v);
}

/** The cache's own request phase for its background refresh (a replay of `ex`): the copy becomes the fill for the key. */
function beginRefresh(rt: CacheRoute, copy: Exchange, target: string): Decision {
  const baseKey = rt.keys.getKey(copy.client.url, rt.keys.scope(copy.consumer), copy.headers);
  const bx: CacheExchange = { mode: 'fill', target, baseKey, key: baseKey, vary: undefined, stale: undefined, fill: undefined, background: true, forward: 'uri-miss', reqHeaders: copy.headers };
  copy.set(CACHE_STATE, bx);
  return lookupAndDecide(rt, copy, bx);
}

function decide(rt: CacheRoute, ex: Exchange, cx: CacheExchange, hit: CacheHit | undefined): Decision {
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
      if (now < st.freshUntil) return serveFresh(rt, ex, cx, hit, st, now);
      if (now < st.swrUntil) {
        if (!rt.inflight.has(cx.key)) rt.revalidator.refresh(ex, cx.key, (copy) => beginRefresh(rt, copy, cx.target));
        rt.lease.count('stale');
        return fromEntryOrMiss(rt, ex, cx, hit, st, now, 'STALE', `hit; ttl=${ttlOf(st, now)}; detail=stale-while-revalidate`);
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
  const running = rt.inflight.get(cx.key);
  if (running) {
    // Someone is already refreshing this entry: the background request has nothing to do.
    if (cx.background) return { status: 204, headers: { 'x-cache': 'BYPASS' }, body: null };
    cx.mode = 'wait';
    return join(rt, ex, cx, running);
  }
  lead(rt, ex, cx);
}

function serveFresh(rt: CacheRoute, ex: Exchange, cx: CacheExchange, hit: CacheHit, st: EntryState, now: number): Reply | Promise<void | Reply> {
  rt.lease.count('hit');
  if (hit.body !== undefined && ex.headers['range'] === undefined) return preparedAnswer(rt, ex, hit, st, now);
  return fromEntryOrMiss(rt, ex, cx, hit, st, now, 'HIT', `hit; ttl=${ttlOf(st, now)}`);
}

/** An answer from the entry; a disk body that vanished since the lookup makes it a miss. */
function fromEntryOrMiss(
  rt: CacheRoute,
  ex: Exchange,
  cx: CacheExchange,
  hit: CacheHit,
  st: EntryState,
  now: number,
  xcache: 'HIT' | 'STALE',
  status: string,
): Reply | Promise<void | Reply> {
  const head = ex.method === 'HEAD';
  const r = answerFromEntry(hit, st, now, { xcache, status, request: ex.headers, head });
  if (!isPromise<Reply>(r)) {
    if (!head) rt.lease.served(hit.size);
    return r;
  }
  return r.then(
    (reply) => {
      if (!head) rt.lease.served(hit.size);
      return reply;
    },
    () => decide(rt, ex, cx, undefined),
  );
}

/** This request goes upstream for the key; requests for the same key wait for it (join). */
function lead(rt: CacheRoute, ex: Exchange, cx: CacheExchange): void {
  const fill = new Fill(cx.key);
  rt.inflight.set(cx.key, fill);
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

/** Waits for the running fill and shares its answer, or looks up again / goes upstream as its outcome says. */
function join(rt: CacheRoute, ex: Exchange, cx: CacheExchange, fill: Fill): Promise<void | Reply> {
  return fill.head.then((out): Decision => {
    switch (out.kind) {
      case 'share': {
        if (out.vary && out.varyKey !== rt.keys.variant(cx.baseKey, out.vary, ex.headers)) {
          // The leader's variant is not ours: look our own variant up (and lead it if missing).
          cx.vary = out.vary;
          return afterBase(rt, ex, cx, undefined);
        }
        const body = out.buffer ?? out.fanout?.attach() ?? null;
        if (body === null && out.fanout) return fill.done.then(() => restart(rt, ex, cx));
        rt.lease.count('miss');
        return { status: out.status, headers: { ...out.headers }, body: ex.method === 'HEAD' ? null : body };
      }
      case 'pass':
        cx.mode = 'pass';
        return;
      case 'retry':
      case 'updated':
        return restart(rt, ex, cx);
      case 'error':
      case 'stale': {
        const s = cx.stale;
        const now = Date.now();
        if (s && now < s.state.sieUntil) {
          rt.lease.count('stale');
          return fromEntryOrMiss(rt, ex, cx, s.hit, s.state, now, 'STALE', `fwd=stale; ttl=${ttlOf(s.state, now)}; detail=stale-if-error`);
        }
        if (out.kind === 'error') throw out.error;
        cx.mode = 'pass';
        return;
      }
    }
  });
}

function restart(rt: CacheRoute, ex: Exchange, cx: CacheExchange): Decision {
  cx.key = cx.baseKey;
  cx.vary = undefined;
  cx.mode = 'fill';
  cx.forward = 'uri-miss';
  return lookupAndDecide(rt, ex, cx);
}
