/**
 * Redis cache store, shared by every gateway instance pointed at the same Redis and namespace.
 *
 * Layout (all under `namespace`, default `tollgate:cache:`):
 *   <ns>e:<key>   hash {m: meta JSON, t: tags JSON, b: body bytes}, expiring at the meta's `deleteAt`
 *                 (or after `defaultTtlMs`), so Redis itself forgets dead entries
 *   <ns>t:<tag>   set of entry keys carrying the tag, expiring no earlier than its longest-lived member
 * Meta and body sit in one hash so a reader gets both from one HMGET, never one fill's meta with
 * another's body. Writes, meta updates and deletes are Lua scripts: atomic against other instances, and
 * they keep the tag sets exact (an overwrite that drops a tag leaves the old set).
 *
 * Bodies above `maxEntrySize` (default 1 MiB) are not stored here: Redis is memory, and one big value
 * blocks every other client while it is transferred. Put a tiered store in front (small entries here,
 * big ones on local disk); those big entries are then per instance, not shared.
 * Not for Redis Cluster: scripts touch tag sets whose slots they do not declare.
 *
 * Outages: with `timeout` every call rejects after that long at most (Redis gone, frozen or slow), and a
 * call that found Redis unreachable makes `available()` false for a second (false as well while the client
 * reconnects), so the cache policy bypasses the store instead of each request waiting out the timeout.
 */
import type * as Redis from 'redis';
import type { RedisClientType } from 'redis';
import { bounded, connectRedis, loadRedis, RedisBackoff } from '../../redis-client.js';
import { BufferingWriter, isExpired, serializeMeta } from './entry-writer.js';
import { BufferHit } from './memory.js';

// The Redis client loads when a Redis store is opened: configs without one never pay for it.
let redis: typeof Redis | undefined;
import type { CacheHit, CacheMeta, CacheStore, CacheStoreStats, CacheWriteOptions, CacheWriteStream, PurgeFilter } from './types.js';

export const REDIS_DEFAULT_NAMESPACE = 'tollgate:cache:';
const REDIS_DEFAULT_MAX_ENTRY_SIZE = 1024 * 1024;
/** Entries without `deleteAt` would otherwise live until Redis' own eviction. */
const REDIS_DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;
const SCAN_COUNT = 500;

// KEYS[1] entry. ARGV: meta JSON, tags JSON, pexpireat ms, tag-set prefix, 'put' | 'update', body (put only).
const PUT_SCRIPT = `
local key = KEYS[1]
if ARGV[5] == 'update' and redis.call('exists', key) == 0 then return 0 end
local old = redis.call('hget', key, 't')
if old then
  for _, tag in ipairs(cjson.decode(old)) do redis.call('srem', ARGV[4] .. tag, key) end
end
if ARGV[5] == 'put' then
  redis.call('del', key)
  redis.call('hset', key, 'm', ARGV[1], 't', ARGV[2], 'b', ARGV[6])
else
  redis.call('hset', key, 'm', ARGV[1], 't', ARGV[2])
end
redis.call('pexpireat', key, ARGV[3])
local ttl = redis.call('pttl', key)
if ttl > 0 then
  for _, tag in ipairs(cjson.decode(ARGV[2])) do
    local set = ARGV[4] .. tag
    redis.call('sadd', set, key)
    if redis.call('pttl', set) < ttl then redis.call('pexpire', set, ttl) end
  end
end
return 1`;

// KEYS: entries. ARGV[1]: tag-set prefix. Returns how many existed.
const DROP_SCRIPT = `
local n = 0
for _, key in ipairs(KEYS) do
  local t = redis.call('hget', key, 't')
  if t then
    for _, tag in ipairs(cjson.decode(t)) do redis.call('srem', ARGV[1] .. tag, key) end
    n = n + redis.call('del', key)
  end
end
return n`;

// KEYS[1]: tag set. ARGV[1]: tag-set prefix, ARGV[2]: entry-key prefix members must start with.
const PURGE_TAG_SCRIPT = `
local n = 0
local p = ARGV[2]
for _, key in ipairs(redis.call('smembers', KEYS[1])) do
  if string.sub(key, 1, #p) == p then
    local t = redis.call('hget', key, 't')
    if t then
      for _, tag in ipairs(cjson.decode(t)) do redis.call('srem', ARGV[1] .. tag, key) end
      n = n + redis.call('del', key)
    else
      redis.call('srem', KEYS[1], key)
    end
  end
end
return n`;

export type RedisClient = RedisClientType;

export interface RedisStoreOptions {
  /** redis[s]://… ; the store opens and closes its own connection. Give this or `client`. */
  url?: string;
  /** A connected client shared with other features; the store does not close it. */
  client?: RedisClient;
  /** Prefix of every key the store touches. Default `tollgate:cache:`. */
  namespace?: string;
  /** Larger bodies are not stored. Default 1 MiB. */
  maxEntrySize?: number;
  /** Expiry of entries whose meta has no `deleteAt`. Default 24 h. */
  defaultTtlMs?: number;
  /**
   * Longest wait for any call, ms (the gateway passes `redis.timeout`); a call over it rejects and the store
   * reports itself unavailable for a second. Default 0: unbounded (the CLI's own connection).
   */
  timeout?: number;
  /** Connection errors of a client the store opened (it reconnects by itself). Default: ignored. */
  onError?: (err: Error) => void;
}

/** Escapes Redis glob metacharacters so a key prefix matches literally in SCAN MATCH. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

class RedisWriter extends BufferingWriter {
  readonly #store: RedisStore;

  constructor(store: RedisStore, key: string, meta: CacheMeta, limit: number, options: CacheWriteOptions | undefined) {
    super(key, meta, limit, options?.expectedSize);
    this.#store = store;
  }

  protected store(body: Buffer, cb: (err?: Error | null) => void): void {
    this.#store.put(this.key, this.meta, this.metaJson, body).then(() => cb(), cb);
  }
}

export class RedisStore implements CacheStore {
  readonly kind = 'redis';
  readonly maxEntrySize: number;
  readonly namespace: string;
  readonly #client: RedisClient;
  /** The client with bulk strings mapped to Buffers (node-redis types this generic as any here). */
  readonly #binary: { hmGet(key: string, fields: string[]): Promise<unknown> };
  readonly #ownsClient: boolean;
  readonly #defaultTtlMs: number;
  readonly #entryPrefix: string;
  readonly #tagPrefix: string;
  readonly #backoff: RedisBackoff;
  readonly #timeout: number;

  private constructor(client: RedisClient, ownsClient: boolean, options: RedisStoreOptions) {
    this.#client = client;
    this.#binary = client.withTypeMapping({ [redis!.RESP_TYPES.BLOB_STRING]: Buffer });
    this.#ownsClient = ownsClient;
    this.namespace = options.namespace ?? REDIS_DEFAULT_NAMESPACE;
    this.maxEntrySize = options.maxEntrySize ?? REDIS_DEFAULT_MAX_ENTRY_SIZE;
    this.#defaultTtlMs = options.defaultTtlMs ?? REDIS_DEFAULT_TTL_MS;
    this.#entryPrefix = `${this.namespace}e:`;
    this.#tagPrefix = `${this.namespace}t:`;
    this.#backoff = new RedisBackoff(client);
    this.#timeout = options.timeout ?? 0;
  }

  /** Connected, and no command timed out or found the connection down in the last second. */
  available(): boolean {
    return this.#backoff.available;
  }

  /** Bounds a call, and notes an unreachable Redis so that the next callers bypass the store for a moment. */
  #watch<T>(p: Promise<T>): Promise<T> {
    return bounded(p, this.#timeout).then(
      (v) => {
        this.#backoff.answered();
        return v;
      },
      (err: unknown) => {
        this.#backoff.failed(err);
        throw err;
      },
    );
  }

  /** Connects (when given a URL) and returns the store. */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    redis ??= await loadRedis();
    if (options.client) return new RedisStore(options.client, false, options);
    if (!options.url) throw new TypeError('redis cache store needs a url or a client');
    // Without the offline queue, commands fail at once while Redis is away: a cache lookup that waits
    // for a reconnect would stall every request instead of degrading to a miss.
    const client: RedisClient = await connectRedis({ url: options.url, purpose: 'cache', onError: options.onError });
    return new RedisStore(client, true, options);
  }

  async get(key: string): Promise<CacheHit | undefined> {
    const [meta, body] = (await this.#watch(this.#binary.hmGet(this.#entryPrefix + key, ['m', 'b']))) as [Buffer | null, Buffer | null];
    if (meta === null || body === null) return undefined;
    const parsed = JSON.parse(meta.toString('utf8')) as CacheMeta;
    if (isExpired(parsed.deleteAt)) return undefined;
    return new BufferHit(key, parsed, meta.length, body);
  }

  createWriteStream(key: string, meta: CacheMeta, options?: CacheWriteOptions): CacheWriteStream {
    return new RedisWriter(this, key, meta, this.maxEntrySize, options);
  }

  /** @internal Commits a complete entry; called by the writer. */
  async put(key: string, meta: CacheMeta, metaJson: string, body: Buffer): Promise<void> {
    await this.#watch(
      this.#client.eval(PUT_SCRIPT, {
        keys: [this.#entryPrefix + key],
        arguments: [metaJson, JSON.stringify(meta.tags), String(this.#expiry(meta)), this.#tagPrefix, 'put', body],
      }),
    );
  }

  async updateMeta(key: string, meta: CacheMeta): Promise<boolean> {
    const { meta: clean, json } = serializeMeta(meta);
    const updated = await this.#watch(
      this.#client.eval(PUT_SCRIPT, {
        keys: [this.#entryPrefix + key],
        arguments: [json, JSON.stringify(clean.tags), String(this.#expiry(clean)), this.#tagPrefix, 'update'],
      }),
    );
    return updated === 1;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.#drop([this.#entryPrefix + key])) > 0;
  }

  async purge(filter: PurgeFilter): Promise<number> {
    const entryPrefix = this.#entryPrefix + (filter.prefix ?? '');
    if (filter.tag !== undefined) {
      const n = await this.#watch(
        this.#client.eval(PURGE_TAG_SCRIPT, {
          keys: [this.#tagPrefix + filter.tag],
          arguments: [this.#tagPrefix, entryPrefix],
        }),
      );
      return Number(n);
    }
    let purged = 0;
    for await (const keys of this.#scanEntries(entryPrefix)) purged += await this.#drop(keys);
    return purged;
  }

  async stats(): Promise<CacheStoreStats> {
    let entries = 0;
    let bytes = 0;
    for await (const keys of this.#scanEntries(this.#entryPrefix)) {
      // node-redis 6 types HSTRLEN's reply as an array; Redis answers an integer.
      const replies: unknown[] = await Promise.all(keys.flatMap((k) => [this.#watch(this.#client.hStrLen(k, 'm')), this.#watch(this.#client.hStrLen(k, 'b'))]));
      const sizes = replies.map(Number);
      for (let i = 0; i < sizes.length; i += 2) {
        // A key that expired between SCAN and HSTRLEN reads as 0 / 0.
        if (sizes[i] > 0) entries++;
        bytes += sizes[i] + sizes[i + 1];
      }
    }
    return { entries, bytes };
  }

  async close(): Promise<void> {
    if (this.#ownsClient && this.#client.isOpen) await this.#client.close();
  }

  /** PEXPIREAT wants an integer; a policy may compute fractional or unbounded times. */
  #expiry(meta: CacheMeta): number {
    const at = meta.deleteAt;
    return at !== undefined && Number.isFinite(at) ? Math.ceil(at) : Date.now() + this.#defaultTtlMs;
  }

  async #drop(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return Number(await this.#watch(this.#client.eval(DROP_SCRIPT, { keys, arguments: [this.#tagPrefix] })));
  }

  /** SCAN by hand rather than scanIterator, so that each round trip is bounded. */
  async *#scanEntries(prefix: string): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const r = await this.#watch(this.#client.scan(cursor, { MATCH: `${globEscape(prefix)}*`, COUNT: SCAN_COUNT, TYPE: 'hash' }));
      cursor = String(r.cursor);
      if (r.keys.length > 0) yield r.keys.map(String);
    } while (cursor !== '0');
  }
}

export function openRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  return RedisStore.open(options);
}
