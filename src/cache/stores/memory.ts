/**
 * In-process LRU cache store bounded by bytes (lru-cache). The hit path is one Map lookup: each entry is
 * stored as a ready-made, frozen CacheHit, so `peek` allocates nothing and parses nothing, and every hit
 * of one entry returns the same object (a policy can memoize per-entry work in a WeakMap keyed by it).
 */
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { BufferingWriter, isExpired, matchesPurge, serializeMeta } from './entry-writer.js';
import type { CacheHit, CacheMeta, CacheStore, CacheStoreStats, CacheWriteOptions, CacheWriteStream, PurgeFilter } from './types.js';

const MEMORY_DEFAULT_MAX_SIZE = 64 * 1024 * 1024;
const MEMORY_DEFAULT_MAX_ENTRY_SIZE = 1024 * 1024;
/** Rough per-entry bookkeeping (objects, map slot) counted against the cap so tiny entries are not free. */
const ENTRY_OVERHEAD_BYTES = 128;

export interface MemoryStoreOptions {
  /** Cap on bodies + metadata, in bytes. Default 64 MiB. */
  maxSize?: number;
  /** Larger bodies are not stored. Default 1 MiB, at most `maxSize`. */
  maxEntrySize?: number;
}

/** A hit whose body is in memory (memory and Redis stores). */
export class BufferHit implements CacheHit {
  readonly key: string;
  readonly meta: Readonly<CacheMeta>;
  readonly size: number;
  readonly body: Buffer;
  /** Bytes counted against the cap. */
  readonly cost: number;
  readonly deleteAt: number | undefined;

  constructor(key: string, meta: CacheMeta, metaBytes: number, body: Buffer) {
    this.key = key;
    this.meta = meta;
    this.size = body.length;
    this.body = body;
    this.cost = body.length + metaBytes + key.length + ENTRY_OVERHEAD_BYTES;
    this.deleteAt = typeof meta.deleteAt === 'number' ? meta.deleteAt : undefined;
    Object.freeze(this);
  }

  open(): Promise<Readable> {
    // objectMode off: consumers get a byte stream, as from disk, not a stream of objects.
    return Promise.resolve(Readable.from(this.size === 0 ? [] : [this.body], { objectMode: false }));
  }
}

class MemoryWriter extends BufferingWriter {
  readonly #store: MemoryStore;

  constructor(store: MemoryStore, key: string, meta: CacheMeta, limit: number, options: CacheWriteOptions | undefined) {
    super(key, meta, limit, options?.expectedSize);
    this.#store = store;
  }

  protected store(body: Buffer, cb: (err?: Error | null) => void): void {
    this.#store.put(new BufferHit(this.key, this.meta, this.metaJson.length, body));
    cb();
  }
}

export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  readonly maxEntrySize: number;
  readonly #lru: LRUCache<string, BufferHit>;

  constructor(options: MemoryStoreOptions = {}) {
    const maxSize = options.maxSize ?? MEMORY_DEFAULT_MAX_SIZE;
    if (!(Number.isInteger(maxSize) && maxSize > 0)) throw new TypeError(`memory cache maxSize must be a positive integer, got ${maxSize}`);
    const maxEntrySize = Math.min(options.maxEntrySize ?? MEMORY_DEFAULT_MAX_ENTRY_SIZE, maxSize);
    if (!(maxEntrySize >= 0)) throw new TypeError(`memory cache maxEntrySize must be >= 0, got ${options.maxEntrySize}`);
    this.maxEntrySize = maxEntrySize;
    this.#lru = new LRUCache<string, BufferHit>({ maxSize, sizeCalculation: (hit) => hit.cost });
  }

  /** The synchronous hit path: no promise, no allocation. Marks the entry recently used. */
  peek(key: string): CacheHit | undefined {
    const hit = this.#lru.get(key);
    if (hit === undefined) return undefined;
    if (hit.deleteAt !== undefined && hit.deleteAt <= Date.now()) {
      this.#lru.delete(key);
      return undefined;
    }
    return hit;
  }

  get(key: string): Promise<CacheHit | undefined> {
    return Promise.resolve(this.peek(key));
  }

  createWriteStream(key: string, meta: CacheMeta, options?: CacheWriteOptions): CacheWriteStream {
    return new MemoryWriter(this, key, meta, this.maxEntrySize, options);
  }

  /** @internal Commits a complete entry; called by the writer. */
  put(hit: BufferHit): void {
    if (isExpired(hit.deleteAt)) this.#lru.delete(hit.key);
    else this.#lru.set(hit.key, hit);
  }

  updateMeta(key: string, meta: CacheMeta): Promise<boolean> {
    const old = this.#lru.get(key);
    if (old === undefined) return Promise.resolve(false);
    const serialized = serializeMeta(meta);
    this.put(new BufferHit(key, serialized.meta, serialized.json.length, old.body));
    return Promise.resolve(true);
  }

  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.#lru.delete(key));
  }

  purge(filter: PurgeFilter): Promise<number> {
    const doomed: string[] = [];
    for (const [key, hit] of this.#lru.entries()) {
      if (matchesPurge(key, hit.meta.tags, filter)) doomed.push(key);
    }
    for (const key of doomed) this.#lru.delete(key);
    return Promise.resolve(doomed.length);
  }

  stats(): Promise<CacheStoreStats> {
    return Promise.resolve({ entries: this.#lru.size, bytes: this.#lru.calculatedSize });
  }

  close(): Promise<void> {
    this.#lru.clear();
    return Promise.resolve();
  }
}

export function createMemoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options);
}
