/**
 * The write-side rules every store shares (see types.ts): visible only after a successful finish, nothing
 * left behind by destroy() or a length mismatch, oversize bodies skipped without buffering. Stores
 * subclass it and implement three callbacks; callbacks rather than promises keep the memory store's
 * per-chunk path free of promise allocations.
 */
import { Writable } from 'node:stream';
import { CacheBodyLengthError } from './types.js';
import type { CacheMeta, CacheWriteStream } from './types.js';

type Callback = (err?: Error | null) => void;

/** open: accepting body; skipping: over the limit, dropping bytes; committing: end() called, commit running. */
type WriterState = 'open' | 'skipping' | 'committing' | 'stored' | 'discarded';

export abstract class EntryWriter extends Writable implements CacheWriteStream {
  #state: WriterState = 'open';
  #bytes = 0;
  readonly #limit: number;
  readonly #expectedSize: number | undefined;
  /** The entry's key, its meta as every store returns it, and that meta serialized once. */
  protected readonly key: string;
  protected readonly meta: CacheMeta;
  protected readonly metaJson: string;

  constructor(key: string, meta: CacheMeta, limit: number, expectedSize: number | undefined) {
    super();
    const serialized = serializeMeta(meta);
    this.key = key;
    this.meta = serialized.meta;
    this.metaJson = serialized.json;
    this.#limit = limit;
    this.#expectedSize = expectedSize;
    if (expectedSize !== undefined && expectedSize > limit) this.#state = 'skipping';
  }

  get stored(): boolean {
    return this.#state === 'stored';
  }

  /** Stores one chunk of the body (buffer it, write it to a temp file). */
  protected abstract append(chunk: Buffer, cb: Callback): void;
  /** Makes the entry visible atomically, replacing any previous one; `size` is the full body length. */
  protected abstract commit(size: number, cb: Callback): void;
  /** Drops whatever was buffered or written so far. Called at most once, never after a successful commit; must not throw. */
  protected abstract discard(): void;

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: Callback): void {
    this.#bytes += chunk.length;
    if (this.#state === 'skipping') return cb();
    if (this.#bytes > this.#limit) {
      this.#state = 'skipping';
      this.discard();
      return cb();
    }
    this.append(chunk, cb);
  }

  override _final(cb: Callback): void {
    if (this.#state === 'skipping') return cb();
    if (this.#expectedSize !== undefined && this.#bytes !== this.#expectedSize) {
      this.#state = 'discarded';
      this.discard();
      return cb(new CacheBodyLengthError(this.#expectedSize, this.#bytes));
    }
    this.#state = 'committing';
    this.commit(this.#bytes, (err) => {
      if (err) {
        this.#state = 'discarded';
        this.discard();
        return cb(err);
      }
      this.#state = 'stored';
      cb();
    });
  }

  override _destroy(err: Error | null, cb: Callback): void {
    // Once end() handed over a complete body the commit may finish; anything earlier is a cut-short body.
    if (this.#state === 'open') {
      this.#state = 'discarded';
      this.discard();
    }
    cb(err);
  }
}

/**
 * Round-trips meta through JSON once, at write time, so that every store returns the same shape (no
 * undefined fields, no class instances) and a non-serializable meta fails at the caller, not on a hit.
 */
/** A writer that holds the body in memory and hands it over whole (memory and Redis stores). */
export abstract class BufferingWriter extends EntryWriter {
  #chunks: Buffer[] = [];

  /** Stores the complete body; called once, after the last chunk. */
  protected abstract store(body: Buffer, cb: Callback): void;

  protected append(chunk: Buffer, cb: Callback): void {
    this.#chunks.push(chunk);
    cb();
  }

  protected commit(size: number, cb: Callback): void {
    const body = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, size);
    this.#chunks = [];
    this.store(body, cb);
  }

  protected discard(): void {
    this.#chunks = [];
  }
}

export function serializeMeta(meta: CacheMeta): { json: string; meta: CacheMeta } {
  const json = JSON.stringify(meta);
  return { json, meta: JSON.parse(json) as CacheMeta };
}

/** `typeof` rather than `!== undefined`: a non-finite deleteAt comes back from JSON as null, which means never. */
export function isExpired(deleteAt: number | undefined, now: number = Date.now()): boolean {
  return typeof deleteAt === 'number' && deleteAt <= now;
}

export function matchesPurge(key: string, tags: readonly string[], filter: { prefix?: string; tag?: string }): boolean {
  if (filter.prefix !== undefined && !key.startsWith(filter.prefix)) return false;
  if (filter.tag !== undefined && !tags.includes(filter.tag)) return false;
  return true;
}
