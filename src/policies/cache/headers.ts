/**
 * Response headers of cached routes: what an entry stores, and what every answer carries:
 * `Cache-Status` (RFC 9211, https://www.rfc-editor.org/rfc/rfc9211), `X-Cache` and `Age` (RFC 9111 §5.1).
 */
import type { CacheHit } from '../../cache/stores/index.js';
import type { Headers, Reply } from '../types.js';
import type { EntryState } from './freshness.js';

const CACHE_NAME = 'tollgate';

export type XCache = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS';

/** Response headers never stored: per exchange, or recomputed on every answer. */
const NEVER_STORED = new Set([
  'x-request-id',
  'x-upstream-request-id',
  'via',
  'age',
  'x-cache',
  'cache-status',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'trailer',
  'upgrade',
]);

/** Headers of a 304 (RFC 9110 §15.4.5): the 200's, without those describing the body. */
const NOT_IN_304 = new Set(['content-length', 'content-type', 'content-encoding', 'content-range']);

export interface StoredHead {
  headers: [string, string][];
  /** The upstream's own Cache-Status, to which ours is appended. */
  upstreamCacheStatus: string | undefined;
}

/** Splits response headers into what is stored and what is not. `drop` adds route-specific names (tags, cookies). */
export function storedHead(h: Headers, drop: ReadonlySet<string>): StoredHead {
  const headers: [string, string][] = [];
  for (const name in h) {
    if (NEVER_STORED.has(name) || drop.has(name)) continue;
    const v = h[name];
    if (Array.isArray(v)) for (const x of v) headers.push([name, x]);
    else headers.push([name, v]);
  }
  const cs = h['cache-status'];
  return { headers, upstreamCacheStatus: cs === undefined ? undefined : Array.isArray(cs) ? cs.join(', ') : cs };
}

function cacheStatus(upstream: string | undefined, params: string): string {
  const own = `${CACHE_NAME}; ${params}`;
  return upstream ? `${upstream}, ${own}` : own;
}

/** The upstream Cache-Status stored with an entry (kept in its own header slot of meta.headers). */
function upstreamStatusOf(hit: CacheHit): string | undefined {
  for (const [n, v] of hit.meta.headers) if (n === 'x-tollgate-upstream-cache-status') return v;
  return undefined;
}

function ageOf(hit: CacheHit, state: EntryState, now: number): number {
  return state.initialAge + Math.max(0, Math.floor((now - hit.meta.storedAt) / 1000));
}

/** Seconds of freshness left (negative: stale for that long), as Cache-Status `ttl` wants. */
export function ttlOf(state: EntryState, now: number): number {
  return Math.floor((state.freshUntil - now) / 1000);
}

function toRecord(pairs: readonly [string, string][], skip?: ReadonlySet<string>): Headers {
  const h: Headers = {};
  for (const [name, v] of pairs) {
    if (name === 'x-tollgate-upstream-cache-status' || skip?.has(name)) continue;
    const prev = h[name];
    if (prev === undefined) h[name] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else h[name] = [prev, v];
  }
  return h;
}

/** A fresh record of an entry's headers for one answer (not the hot path: stale, revalidated, 304, ranges). */
export function entryHeaders(hit: CacheHit, state: EntryState, now: number, xcache: XCache, statusParams: string, notModified = false): Headers {
  const h = toRecord(hit.meta.headers, notModified ? NOT_IN_304 : undefined);
  if (!notModified) h['content-length'] = String(hit.size);
  h['age'] = String(ageOf(hit, state, now));
  h['x-cache'] = xcache;
  h['cache-status'] = cacheStatus(upstreamStatusOf(hit), statusParams);
  return h;
}

/**
 * Per-entry, precomputed answer for fresh memory hits. The header record is reused for every hit of the
 * entry and only `age` and `cache-status` change, at most once a second. Mutating a shared record is safe
 * because the pipeline turns a Buffer reply into `writeHead` synchronously (and copies it before any
 * response hook sees it).
 */
export class PreparedHit {
  readonly headers: Headers;
  readonly notModifiedHeaders: Headers;
  readonly body: Buffer | undefined;
  readonly upstreamStatus: string | undefined;
  /** The whole answer of a GET hit, shared by every hit of the entry. */
  readonly reply: Reply;
  #sec = -1;

  constructor(readonly hit: CacheHit, readonly state: EntryState) {
    this.headers = toRecord(hit.meta.headers);
    this.headers['content-length'] = String(hit.size);
    this.headers['x-cache'] = 'HIT';
    this.notModifiedHeaders = toRecord(hit.meta.headers, NOT_IN_304);
    this.notModifiedHeaders['x-cache'] = 'HIT';
    this.body = hit.body;
    this.upstreamStatus = upstreamStatusOf(hit);
    this.reply = { status: hit.meta.status, headers: this.headers, body: hit.body ?? null };
  }

  /** Updates Age and Cache-Status when the second changed; returns the shared header record. */
  refresh(now: number): void {
    const sec = Math.floor(now / 1000);
    if (sec === this.#sec) return;
    this.#sec = sec;
    const age = String(ageOf(this.hit, this.state, now));
    const status = cacheStatus(this.upstreamStatus, `hit; ttl=${ttlOf(this.state, now)}`);
    this.headers['age'] = age;
    this.headers['cache-status'] = status;
    this.notModifiedHeaders['age'] = age;
    this.notModifiedHeaders['cache-status'] = status;
  }
}

/** Adds the cache headers to a forwarded (not served-from-cache) response. */
export function markForwarded(h: Headers, xcache: XCache, statusParams: string): void {
  const upstream = h['cache-status'];
  h['cache-status'] = cacheStatus(upstream === undefined ? undefined : Array.isArray(upstream) ? upstream.join(', ') : upstream, statusParams);
  h['x-cache'] = xcache;
  if (h['age'] === undefined) h['age'] = '0';
}
