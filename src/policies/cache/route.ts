/**
 * What one route's cache policy holds for its lifetime (its store lease, key builder, the fills in flight),
 * and what it holds per exchange (`CacheExchange`). The request-phase modules (lookup.ts), the fill
 * (fill.ts), invalidation (invalidate.ts) and background revalidation (revalidate.ts) all work on these.
 */
import { resolve } from 'node:path';
import { CacheStorePool } from '../../cache/registry.js';
import type { CacheStoreLease, StoreRequest } from '../../cache/registry.js';
import type { CacheHit, CacheStore } from '../../cache/stores/index.js';
import { stateKey } from '../types.js';
import type { Exchange, Headers, PolicyDeps } from '../types.js';
import type { Fill, FillOutcome } from './coalesce.js';
import { flatHeaders } from './freshness.js';
import type { EntryState, RequestView } from './freshness.js';
import type { PreparedHit } from './headers.js';
import { createKeyBuilder } from './key.js';
import type { KeyBuilder } from './key.js';
import { createBackgroundRevalidator } from './revalidate.js';
import type { BackgroundRevalidator } from './revalidate.js';
import type { CacheOptions } from './schema.js';

/** Log an unreachable store at most this often. */
const UNAVAILABLE_LOG_MS = 10_000;
/** Request headers the request view for http-cache-semantics leaves out when the gateway identified the caller. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization']);

type Mode = 'bypass' | 'unsafe' | 'pass' | 'fill' | 'wait';

/** Where an exchange keeps its `CacheExchange`. */
export const CACHE_STATE = stateKey<CacheExchange>('cache');

/** The cache's state for one exchange (kept under `CACHE_STATE`). */
export interface CacheExchange {
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

export interface CacheRoute {
  readonly opts: CacheOptions;
  readonly store: CacheStore;
  readonly lease: CacheStoreLease;
  readonly keys: KeyBuilder;
  readonly log: PolicyDeps['log'];
  /** Fills running, by storage key (a fill whose response has a Vary is also listed under its variant key). */
  readonly inflight: Map<string, Fill>;
  /** Precomputed answers of fresh in-memory entries, per hit object. */
  readonly prepared: WeakMap<CacheHit, PreparedHit>;
  /** The store's synchronous lookup, when it holds entries in process memory (see CacheStore.peek). */
  readonly peek: ((key: string) => CacheHit | undefined | null) | undefined;
  /** Only stores that can become unreachable (Redis) have it; the others pay nothing. */
  readonly available: (() => boolean) | undefined;
  readonly tagHeaders: ReadonlySet<string>;
  /** Response headers not stored (tags; Set-Cookie when stripped). */
  readonly notStored: ReadonlySet<string>;
  /** Headers of a 304 not merged into the stored entry. */
  readonly notMerged: ReadonlySet<string>;
  /** Origins (the public URL's, the upstream's) whose Location headers name this route's entries. */
  readonly origins: ReadonlySet<string>;
  readonly revalidator: BackgroundRevalidator;
  lastUnavailableLog: number;
  /** The private pool of a route compiled without a registry; closed with the route. */
  readonly privatePool: CacheStorePool | undefined;
}

export async function openCacheRoute(opts: CacheOptions, deps: PolicyDeps): Promise<CacheRoute> {
  const req: StoreRequest = { kind: opts.store, dir: resolve(deps.configDir, opts.dir), maxSize: opts.maxSize, maxEntrySize: opts.maxEntrySize };
  // Without a registry (compiling for `tollgate check`, unit tests) the route gets a private memory store.
  const privatePool = deps.services.cacheStores ? undefined : new CacheStorePool(deps.log);
  const lease: CacheStoreLease = deps.services.cacheStores
    ? await deps.services.cacheStores.acquire(req)
    : await privatePool!.registry({ url: '', timeout: 0 }).acquire({ ...req, kind: 'memory' });
  const store = lease.store;
  const notStored = new Set([...opts.tagHeaders, ...(opts.setCookie === 'strip' ? ['set-cookie'] : [])]);
  const origins = new Set<string>();
  for (const u of [deps.publicUrl, deps.upstreamUrl]) {
    try {
      if (u) origins.add(new URL(u).origin);
    } catch {
      // Not a URL: nothing to compare Location headers with.
    }
  }
  return {
    opts,
    store,
    lease,
    keys: createKeyBuilder(deps.routeName, opts.key, opts.shared, deps.credentialLocations),
    log: deps.log,
    inflight: new Map(),
    prepared: new WeakMap(),
    peek: store.peek?.bind(store),
    available: store.available?.bind(store),
    tagHeaders: new Set(opts.tagHeaders),
    notStored,
    notMerged: new Set([...notStored, 'x-request-id', 'x-upstream-request-id', 'via', 'age', 'x-cache', 'cache-status', 'connection', 'keep-alive', 'transfer-encoding']),
    origins,
    revalidator: createBackgroundRevalidator(deps.log),
    lastUnavailableLog: 0,
    privatePool,
  };
}

export function isPromise<T>(v: unknown): v is Promise<T> {
  return v !== null && typeof v === 'object' && typeof (v as Promise<T>).then === 'function';
}

export function storeUnavailable(rt: CacheRoute, ex: Exchange, cx: CacheExchange, err?: Error): void {
  cx.unavailable = true;
  if (Date.now() - rt.lastUnavailableLog < UNAVAILABLE_LOG_MS) return;
  rt.lastUnavailableLog = Date.now();
  rt.log.warn({ err: err?.message, requestId: ex.requestId }, 'cache store unavailable; answering from the upstream without caching');
}

export function stateOf(hit: CacheHit): EntryState | undefined {
  const p = hit.meta.policy as EntryState | undefined;
  return p && p.v === 1 ? p : undefined;
}

export function requestView(ex: Exchange, cx: CacheExchange): RequestView {
  return { method: 'GET', url: cx.target, headers: flatHeaders(cx.reqHeaders, ex.consumer && !ex.consumer.anonymous ? CREDENTIAL_HEADERS : undefined) };
}

/** Tells the fill's waiters how it ended and takes it out of the in-flight map. */
export function settle(rt: CacheRoute, fill: Fill, outcome: FillOutcome): void {
  fill.resolve(outcome);
  for (const [k, f] of rt.inflight) if (f === fill) rt.inflight.delete(k);
  fill.finish();
}
