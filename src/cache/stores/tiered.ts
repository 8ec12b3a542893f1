/**
 * Two stores as one: small bodies in a fast store (memory or Redis), large ones in a big store (disk).
 * The tier is chosen from `expectedSize` (Content-Length) when given; otherwise the body is held in
 * memory up to `threshold` bytes and moves to the large store as soon as it grows past it, so a 200 MB
 * body never sits in memory. A key lives in one tier at a time: committing to one tier deletes the key
 * from the other, and those two steps are serialized per key so concurrent fills leave one entry.
 */
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { EntryWriter } from './entry-writer.js';
import type { CacheHit, CacheMeta, CacheStore, CacheStoreStats, CacheWriteOptions, CacheWriteStream, PurgeFilter } from './types.js';

export interface TieredStoreOptions {
  small: CacheStore;
  large: CacheStore;
  /** Bodies up to this many bytes go to `small`. Default and maximum: `small.maxEntrySize`. */
  threshold?: number;
  /** Close both stores with this one. Default true. */
  closeTiers?: boolean;
}

type Callback = (err?: Error | null) => void;

function writeTo(target: Writable, chunk: Buffer, cb: Callback): void {
  if (target.destroyed) return cb(target.errored ?? new Error('cache tier write stream was destroyed'));
  if (target.write(chunk)) return cb();
  const onDrain = (): void => {
    target.off('close', onClose);
    cb();
  };
  const onClose = (): void => {
    target.off('drain', onDrain);
    cb(target.errored ?? new Error('cache tier write stream closed'));
  };
  target.once('drain', onDrain);
  target.once('close', onClose);
}

class TieredWriter extends EntryWriter {
  readonly #store: TieredStore;
  readonly #options: CacheWriteOptions | undefined;
  /** Body held until it outgrows the small tier (unknown size only). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #target: CacheWriteStream | undefined;
  #targetTier: 'small' | 'large' | undefined;
  #innerStored = false;

  constructor(store: TieredStore, key: string, meta: CacheMeta, options: CacheWriteOptions | undefined) {
    super(key, meta, store.maxEntrySize, options?.expectedSize);
    this.#store = store;
    this.#options = options;
    const expected = options?.expectedSize;
    if (expected !== undefined && expected <= store.maxEntrySize) this.#open(expected <= store.threshold ? 'small' : 'large');
  }

  override get stored(): boolean {
    return super.stored && this.#innerStored;
  }

  #open(tier: 'small' | 'large'): CacheWriteStream {
    const target = this.#store.tier(tier).createWriteStream(this.key, this.meta, this.#options);
    // Errors reach us through write/finish callbacks; this keeps them from being unhandled.
    target.on('error', () => {});
    this.#target = target;
    this.#targetTier = tier;
    return target;
  }

  protected append(chunk: Buffer, cb: Callback): void {
    if (this.#target !== undefined) return writeTo(this.#target, chunk, cb);
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes <= this.#store.threshold) return cb();
    const target = this.#open('large');
    const held = this.#pending;
    this.#pending = [];
    writeTo(target, held.length === 1 ? held[0] : Buffer.concat(held), cb);
  }

  protected commit(_size: number, cb: Callback): void {
    const target = this.#target ?? this.#open('small');
    const held = this.#pending;
    this.#pending = [];
    const tier = this.#targetTier ?? 'small';
    this.#store
      .serialize(this.key, async () => {
        for (const chunk of held) target.write(chunk);
        target.end();
        await finished(target);
        this.#innerStored = target.stored;
        if (target.stored) await this.#store.tier(tier === 'small' ? 'large' : 'small').delete(this.key);
      })
      .then(() => cb(), cb);
  }

  protected discard(): void {
    this.#pending = [];
    this.#target?.destroy();
  }
}

export class TieredStore implements CacheStore {
  readonly kind = 'tiered';
  readonly maxEntrySize: number;
  readonly threshold: number;
  readonly #small: CacheStore;
  readonly #large: CacheStore;
  readonly #closeTiers: boolean;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Present only when a tier can become unreachable (Redis), so memory + disk pays nothing for it. */
  readonly available?: () => boolean;
  /** Present only when the small tier has one: its entries answer synchronously; the large tier's need `get`. */
  readonly peek?: (key: string) => CacheHit | undefined | null;

  constructor(options: TieredStoreOptions) {
    this.#small = options.small;
    this.#large = options.large;
    this.#closeTiers = options.closeTiers ?? true;
    const threshold = options.threshold ?? options.small.maxEntrySize;
    if (!(threshold >= 0) || threshold > options.small.maxEntrySize) {
      throw new TypeError(`tiered cache threshold ${threshold} must be between 0 and the small store's maxEntrySize (${options.small.maxEntrySize})`);
    }
    this.threshold = threshold;
    this.maxEntrySize = Math.max(options.large.maxEntrySize, threshold);
    const { small, large } = options;
    if (small.available || large.available) this.available = () => small.available?.() !== false && large.available?.() !== false;
    const smallPeek = small.peek?.bind(small);
    if (smallPeek) this.peek = (key) => smallPeek(key) ?? null;
  }

  /** @internal */
  tier(which: 'small' | 'large'): CacheStore {
    return which === 'small' ? this.#small : this.#large;
  }

  async get(key: string): Promise<CacheHit | undefined> {
    return (await this.#small.get(key)) ?? (await this.#large.get(key));
  }

  createWriteStream(key: string, meta: CacheMeta, options?: CacheWriteOptions): CacheWriteStream {
    return new TieredWriter(this, key, meta, options);
  }

  async updateMeta(key: string, meta: CacheMeta): Promise<boolean> {
    return this.serialize(key, async () => (await this.#small.updateMeta(key, meta)) || this.#large.updateMeta(key, meta));
  }

  async delete(key: string): Promise<boolean> {
    return this.serialize(key, async () => {
      const [a, b] = await Promise.all([this.#small.delete(key), this.#large.delete(key)]);
      return a || b;
    });
  }

  async purge(filter: PurgeFilter): Promise<number> {
    const [a, b] = await Promise.all([this.#small.purge(filter), this.#large.purge(filter)]);
    return a + b;
  }

  async stats(): Promise<CacheStoreStats> {
    const [a, b] = await Promise.all([this.#small.stats(), this.#large.stats()]);
    return { entries: a.entries + b.entries, bytes: a.bytes + b.bytes };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#locks.values()]);
    if (this.#closeTiers) await Promise.all([this.#small.close(), this.#large.close()]);
  }

  /** @internal Runs `fn` after every earlier serialized call for `key` settled. */
  serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.catch(() => {});
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }
}

export function createTieredStore(options: TieredStoreOptions): TieredStore {
  return new TieredStore(options);
}
