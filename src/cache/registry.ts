/**
 * The cache stores a gateway process has open, shared by every route that asks for the same store
 * settings, and kept across hot reloads: a reload that keeps a route's settings keeps its entries. Each
 * route's policy acquires a lease at config compile and releases it when its snapshot is retired; a store
 * closes when its last lease goes.
 *
 * Counters (hits, misses, …) live beside the store's data so that `tollgate cache stats` can read them from
 * another process: `stats.json` in the disk store's directory, a hash `<namespace>stats` in Redis.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { RedisSettings } from '../config/schema.js';
import { bounded, closeGatewayRedis, connectGatewayRedis, RedisTimeoutError } from '../redis-client.js';
import { createMemoryStore, createTieredStore, openDiskStore, openRedisStore, REDIS_DEFAULT_NAMESPACE } from './stores/index.js';
import type { CacheStore, RedisClient } from './stores/index.js';
import type { CacheStoreKind } from './stores/index.js';

const STATS_FILE = 'stats.json';
const REDIS_STATS_SUFFIX = 'stats';
const FLUSH_INTERVAL_MS = 5_000;

const COUNTERS = ['hit', 'miss', 'stale', 'revalidated', 'bypass'] as const;
type CounterName = (typeof COUNTERS)[number];
export type Counters = Record<CounterName, number>;

const emptyCounters = (): Counters => ({ hit: 0, miss: 0, stale: 0, revalidated: 0, bypass: 0 });

/** What a cache policy asks for. Paths are absolute. */
export interface StoreRequest {
  kind: CacheStoreKind;
  /** Disk and tiered: directory. */
  dir: string;
  maxSize?: number;
  maxEntrySize?: number;
}

export interface CacheStoreLease {
  readonly store: CacheStore;
  /** Counts one answer of the given kind. */
  count(name: CounterName): void;
  /** Counts body bytes answered from the store (bytes the upstream did not have to send). */
  served(bytes: number): void;
  release(): Promise<void>;
}

/** What policies get as `deps.services.cacheStores`. */
export interface CacheStoreRegistry {
  acquire(req: StoreRequest): Promise<CacheStoreLease>;
}

interface Open {
  spec: string;
  store: CacheStore;
  refs: number;
  pending: Counters;
  /** This process's counts since the store opened (the admin API's stats; `pending` empties at each flush). */
  seen: Counters;
  flush(): Promise<void>;
  closeExtra(): Promise<void>;
}

export function readDiskCounters(dir: string): Counters {
  try {
    const doc = JSON.parse(readFileSync(join(dir, STATS_FILE), 'utf8')) as Partial<Counters>;
    const out = emptyCounters();
    for (const n of COUNTERS) if (typeof doc[n] === 'number') out[n] = doc[n];
    return out;
  } catch {
    return emptyCounters();
  }
}

export async function readRedisCounters(client: RedisClient, namespace = REDIS_DEFAULT_NAMESPACE): Promise<Counters> {
  const h = await client.hGetAll(namespace + REDIS_STATS_SUFFIX);
  const out = emptyCounters();
  for (const n of COUNTERS) if (h[n] !== undefined) out[n] = Number(h[n]);
  return out;
}

/** The process-wide pool behind the registries handed to each config's policies. */
export class CacheStorePool {
  /** Answers counted by every store of this pool since start, for /metrics and the dashboard (in memory only). */
  readonly totals: Counters & { servedBytes: number } = { ...emptyCounters(), servedBytes: 0 };
  readonly #open = new Map<string, Promise<Open>>();
  readonly #log: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  /** The registry for one config: Redis comes from its top-level `redis:` setting. */
  registry(redis: RedisSettings): CacheStoreRegistry {
    return { acquire: (req) => this.#acquire(req, redis) };
  }

  async #acquire(req: StoreRequest, redis: RedisSettings): Promise<CacheStoreLease> {
    if (req.kind === 'redis' && !redis.url) throw new Error('cache store "redis" needs the top-level `redis:` URL (e.g. redis://127.0.0.1:6379)');
    const spec = JSON.stringify([req.kind, req.kind === 'memory' ? '' : resolve(req.dir), req.maxSize ?? null, req.maxEntrySize ?? null, req.kind === 'redis' ? [redis.url, redis.timeout] : '']);
    let p = this.#open.get(spec);
    if (!p) {
      p = this.#openStore(spec, req, redis);
      this.#open.set(spec, p);
      p.catch(() => this.#open.delete(spec));
    }
    const o = await p;
    o.refs++;
    this.#startTimer();
    let released = false;
    const totals = this.totals;
    return {
      store: o.store,
      count(name) {
        o.pending[name]++;
        o.seen[name]++;
        totals[name]++;
      },
      served(bytes) {
        totals.servedBytes += bytes;
      },
      release: async () => {
        if (released) return;
        released = true;
        if (--o.refs > 0) return;
        this.#open.delete(spec);
        await o.flush().catch(() => undefined);
        await o.store.close();
        await o.closeExtra();
      },
    };
  }

  async #openStore(spec: string, req: StoreRequest, redis: RedisSettings): Promise<Open> {
    const pending = emptyCounters();
    const take = (): Counters | undefined => {
      if (COUNTERS.every((n) => pending[n] === 0)) return undefined;
      const out = { ...pending };
      for (const n of COUNTERS) pending[n] = 0;
      return out;
    };
    const memoryOpts = { maxSize: req.maxSize, maxEntrySize: req.maxEntrySize };
    if (req.kind === 'memory') {
      return { spec, store: createMemoryStore(memoryOpts), refs: 0, pending, seen: emptyCounters(), flush: async () => void take(), closeExtra: async () => {} };
    }
    if (req.kind === 'redis') {
      // Every command bounded by `redis.timeout`, no offline queue, reconnects by itself: while Redis is away
      // the store says it is unavailable and routes bypass the cache (src/redis-client.ts).
      const client: RedisClient = await connectGatewayRedis(redis, 'cache', this.#log);
      const small = await openRedisStore({ client, maxEntrySize: req.maxEntrySize, timeout: redis.timeout });
      // Bodies too big for Redis stay on this instance's disk: cached, but not shared between instances.
      const dir = resolve(req.dir);
      await mkdir(dir, { recursive: true });
      const store = createTieredStore({ small, large: await openDiskStore({ dir, maxSize: req.maxSize }) });
      const key = small.namespace + REDIS_STATS_SUFFIX;
      const flush = async (): Promise<void> => {
        if (!small.available()) return;
        const d = take();
        if (!d) return;
        // Plain bounded commands, not MULTI: node-redis queues a MULTI while disconnected and never times it out.
        const names = COUNTERS.filter((n) => d[n]);
        const results = await Promise.allSettled(names.map((n) => bounded(client.hIncrBy(key, n, d[n]), redis.timeout)));
        // Counts Redis surely did not take (not sent) wait for the next flush; a timed-out one may have landed.
        names.forEach((n, i) => {
          const r = results[i];
          if (r.status === 'rejected' && !(r.reason instanceof RedisTimeoutError)) pending[n] += d[n];
        });
      };
      return { spec, store, refs: 0, pending, seen: emptyCounters(), flush, closeExtra: () => closeGatewayRedis(client, redis.timeout) };
    }
    const dir = resolve(req.dir);
    await mkdir(dir, { recursive: true });
    const disk = await openDiskStore({ dir, maxSize: req.maxSize, maxEntrySize: req.kind === 'disk' ? req.maxEntrySize : undefined });
    const store = req.kind === 'tiered' ? createTieredStore({ small: createMemoryStore({ maxEntrySize: req.maxEntrySize }), large: disk }) : disk;
    const totals = readDiskCounters(dir);
    const flush = async (): Promise<void> => {
      const d = take();
      if (!d) return;
      for (const n of COUNTERS) totals[n] += d[n];
      const tmp = join(dir, `.${STATS_FILE}.${process.pid}`);
      await writeFile(tmp, JSON.stringify({ ...totals, updatedAt: new Date().toISOString() }));
      await rename(tmp, join(dir, STATS_FILE));
    };
    return { spec, store, refs: 0, pending, seen: emptyCounters(), flush, closeExtra: async () => {} };
  }

  #startTimer(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.#timer.unref();
  }

  /** The stores open now (admin API: stats, purge): kind and directory, the store, this process's counts. */
  async openStores(): Promise<{ kind: string; dir: string | null; store: CacheStore; counters: Counters }[]> {
    const all = await Promise.allSettled([...this.#open.values()]);
    return all.flatMap((r) => {
      if (r.status !== 'fulfilled') return [];
      const [kind, dir] = JSON.parse(r.value.spec) as [string, string];
      return [{ kind, dir: dir || null, store: r.value.store, counters: { ...r.value.seen } }];
    });
  }

  /** Writes pending counters now (tests, shutdown). */
  async flush(): Promise<void> {
    const all = await Promise.allSettled([...this.#open.values()]);
    await Promise.all(all.map((r) => (r.status === 'fulfilled' ? r.value.flush().catch((err: Error) => this.#log?.debug({ err: err.message }, 'cache stats flush failed')) : Promise.resolve())));
  }

  /** Closes every store still open (normally none: leases are released when snapshots retire). */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const all = await Promise.allSettled([...this.#open.values()]);
    this.#open.clear();
    await Promise.all(
      all.map(async (r) => {
        if (r.status !== 'fulfilled') return;
        await r.value.flush().catch(() => undefined);
        await r.value.store.close().catch(() => undefined);
        await r.value.closeExtra().catch(() => undefined);
      }),
    );
  }
}
