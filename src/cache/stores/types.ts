/**
 * The cache store contract: where cached responses live, not when they are fresh (that is the cache
 * policy's job, RFC 9111). One small interface, in the spirit of undici's cache stores, with one
 * conformance suite (test/conformance/cache-store.suite.ts) run against every implementation.
 *
 * Rules every store keeps:
 * - A body streams in through `createWriteStream`; the entry becomes visible only once the stream
 *   finishes (`end()` and its 'finish' event). `destroy()` (with or without an error), a write error, or a
 *   body whose length differs from the announced `expectedSize` leaves the previous entry (or nothing) in
 *   place: a truncated body is never stored.
 * - A body larger than the store's `maxEntrySize` is skipped, not an error: the stream keeps accepting
 *   and dropping bytes so a tee to the client is never held up, finishes normally, and `stored` stays false.
 * - An entry past its `deleteAt` is never returned.
 * - Meta must survive a JSON round trip; what `get` returns is what was written, after that round trip.
 *   Treat the meta of a hit as immutable: the memory store hands out the same object to every hit.
 */
import type { Readable, Writable } from 'node:stream';

/** The store implementations a cache policy can ask for (its `store:` option). */
export const CACHE_STORE_KINDS = ['memory', 'disk', 'redis', 'tiered'] as const;
export type CacheStoreKind = (typeof CACHE_STORE_KINDS)[number];

/** Everything about a cached response except its body. JSON-serializable. */
export interface CacheMeta {
  /** HTTP status of the stored response. */
  status: number;
  /** Response headers as stored, in order, as [name, value] pairs (a name may repeat). */
  headers: [string, string][];
  /** When the response was received (ms since the epoch); the policy computes `Age` from it. */
  storedAt: number;
  /** Purge tags (from `Surrogate-Key` / `Cache-Tag`, or configured). */
  tags: string[];
  /**
   * When the store may forget the entry (ms since the epoch); absent: only eviction removes it (Redis
   * applies its own default TTL). Set it past freshness by any stale-while-revalidate / stale-if-error
   * window, or stale serving has nothing to serve.
   */
  deleteAt?: number;
  /** Opaque state of the cache policy, e.g. http-cache-semantics' `toObject()`. JSON-serializable. */
  policy?: unknown;
}

/** A stored entry, as `get` returns it. */
export interface CacheHit {
  readonly key: string;
  readonly meta: Readonly<CacheMeta>;
  /** Body length in bytes. */
  readonly size: number;
  /** The whole body when the store keeps it in memory (memory, redis); undefined for disk entries. */
  readonly body: Buffer | undefined;
  /**
   * Opens the body as a stream. For disk entries the file is opened here, not in `get`: it rejects when
   * the entry vanished in between (evicted, overwritten), so the caller can treat it as a miss before
   * any byte went to the client.
   */
  open(): Promise<Readable>;
}

export interface CacheWriteOptions {
  /**
   * The body length announced upfront (Content-Length), when known. A body of another length is
   * discarded with an error (a cut-short upstream response), a length above `maxEntrySize` is skipped
   * without buffering anything, and the tiered store picks its tier from it.
   */
  expectedSize?: number;
}

/** The writable side of one entry fill. Always attach an 'error' listener: disk and Redis writes can fail. */
export interface CacheWriteStream extends Writable {
  /** True once the entry is committed and visible (after 'finish'); false when skipped or discarded. */
  readonly stored: boolean;
}

/** Selects entries to purge. Both fields set: an entry must match both. An empty filter matches all. */
export interface PurgeFilter {
  /** Matches keys starting with this string, literally (no glob). */
  prefix?: string;
  tag?: string;
}

export interface CacheStoreStats {
  entries: number;
  /** Bytes counted against the store's size cap: bodies plus stored metadata. */
  bytes: number;
}

export interface CacheStore {
  /** 'memory' | 'disk' | 'redis' | 'tiered', for logs and `tollgate cache stats`. */
  readonly kind: string;
  /** Bodies larger than this are not stored (Infinity: no per-entry limit). */
  readonly maxEntrySize: number;
  get(key: string): Promise<CacheHit | undefined>;
  /**
   * The synchronous lookup, for stores that hold entries in process memory: a cache hit then costs no
   * promise and no tick. Returns the hit, `undefined` when the store has no such entry (a miss, as from
   * `get`), or `null` when this key is not in memory and only `get` can tell (the disk tier of a tiered
   * store). Same visibility rules as `get`. Absent: always ask `get`.
   */
  peek?(key: string): CacheHit | undefined | null;
  createWriteStream(key: string, meta: CacheMeta, options?: CacheWriteOptions): CacheWriteStream;
  /** Replaces the meta of an existing entry, keeping its body (a 304 revalidation). False when absent. */
  updateMeta(key: string, meta: CacheMeta): Promise<boolean>;
  /** False when there was nothing to delete. */
  delete(key: string): Promise<boolean>;
  /** Returns how many entries were removed. */
  purge(filter: PurgeFilter): Promise<number>;
  stats(): Promise<CacheStoreStats>;
  /** Releases connections and handles the store opened itself. In-flight writes may be lost. */
  close(): Promise<void>;
  /**
   * False while the store cannot be reached (its Redis is disconnected, or timed out within the last
   * second): the cache policy then bypasses the cache instead of waiting on it. Absent: always reachable.
   */
  available?(): boolean;
}

/** Thrown into a write stream whose body length differs from `expectedSize`. */
export class CacheBodyLengthError extends Error {
  readonly expected: number;
  readonly actual: number;
  constructor(expected: number, actual: number) {
    super(`cache body length ${actual} differs from the announced ${expected}; entry not stored`);
    this.name = 'CacheBodyLengthError';
    this.expected = expected;
    this.actual = actual;
  }
}
