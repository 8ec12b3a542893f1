/**
 * Limit counters behind one small contract: in process memory by default (rate-limiter-flexible's storage),
 * in Redis when the config sets `redis` (then every instance shares the counters). A counter is a fixed window whose
 * key carries the window's start, so windows can be calendar-aligned (3scale's minute/hour/day/month…): a
 * new period is a new key, and the TTL only cleans up.
 *
 * Accuracy across instances: with Redis every INCRBY runs inside one Lua script (with EXPIRE on a new key),
 * so concurrent requests get distinct counts and exactly `max` of them see a count <= max. The consumes of
 * the requests that arrive in one event-loop turn share one script (one round trip, one command).
 */
import { createRequire } from 'node:module';

/**
 * rate-limiter-flexible's in-memory storage, used directly: RateLimiterMemory wraps every call in a Promise,
 * which costs a microtask hop per limit per request for a Map update. The storage itself is synchronous.
 */
interface RlfMemoryStorage {
  incrby(key: string, value: number, durationSec: number): { consumedPoints: number };
  get(key: string): { consumedPoints: number } | null;
}
const MemoryStorage = createRequire(import.meta.url)('rate-limiter-flexible/lib/component/MemoryStorage/MemoryStorage.js') as new () => RlfMemoryStorage;

/** setTimeout overflows above 2^31-1 ms (~24.8 days): the memory store keeps longer windows without a timer. */
const MAX_MEMORY_TTL_S = 20 * 24 * 3600;

export interface CounterResult {
  /** The counter after this call. */
  count: number;
}

/** The contract every limiter store implements (memory, redis); test/conformance runs the same suite on each. */
export interface LimiterStore {
  readonly kind: 'memory' | 'redis' | 'shared';
  /**
   * Adds `points` to the counter `key` (created with a TTL of `ttlSeconds`; 0: no expiry); atomic.
   * The memory store answers synchronously (no Promise), the Redis store with a Promise.
   */
  consume(key: string, points: number, ttlSeconds: number): CounterResult | Promise<CounterResult>;
  /** Gives `points` back (a request that was refused elsewhere must not use up this quota). */
  refund(key: string, points: number, ttlSeconds: number): void | Promise<void>;
  /** The counter's value, 0 when absent. */
  peek(key: string): number | Promise<number>;
  /** Several consumes in one round trip (Redis: one script), each atomic; counts in the same order. */
  consumeMany?(items: readonly { key: string; points: number; ttlSeconds: number }[]): Promise<number[]>;
  close(): Promise<void>;
}

/** The subset of node-redis the Redis limiter needs (so tests and the gateway can pass their client). */
export interface RedisLike {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  /** False while the connection is down: calls fail at once instead of being sent. */
  readonly isReady?: boolean;
}

/** Told every change of a memory counter (src/consumers/limit-journal.ts writes them to the store). */
export interface CounterJournal {
  note(key: string, points: number, ttlSeconds: number): void;
}

/** A counter to start from (restored from the store): its value and the seconds left in its window (0: none). */
export interface RestoredCounter {
  key: string;
  value: number;
  ttlSeconds: number;
}

class MemoryStore implements LimiterStore {
  readonly kind = 'memory';
  readonly #storage = new MemoryStorage();
  readonly #journal: CounterJournal | undefined;
  readonly #onClose: (() => Promise<void>) | undefined;

  constructor(journal: CounterJournal | undefined, restored: readonly RestoredCounter[], onClose: (() => Promise<void>) | undefined) {
    this.#journal = journal;
    this.#onClose = onClose;
    for (const c of restored) this.#storage.incrby(c.key, c.value, c.ttlSeconds > MAX_MEMORY_TTL_S ? 0 : c.ttlSeconds);
  }

  consume(key: string, points: number, ttlSeconds: number): CounterResult {
    this.#journal?.note(key, points, ttlSeconds);
    return { count: this.#storage.incrby(key, points, ttlSeconds > MAX_MEMORY_TTL_S ? 0 : ttlSeconds).consumedPoints };
  }

  refund(key: string, points: number, ttlSeconds: number): void {
    this.#journal?.note(key, -points, ttlSeconds);
    this.#storage.incrby(key, -points, ttlSeconds > MAX_MEMORY_TTL_S ? 0 : ttlSeconds);
  }

  peek(key: string): number {
    return this.#storage.get(key)?.consumedPoints ?? 0;
  }

  async close(): Promise<void> {
    await this.#onClose?.();
  }
}

// KEYS: counters. ARGV: points and TTL (s) per key. The TTL is set when the key has none (new, as in
// RateLimiterRedis' own script); returns the counts. One script, so a request with several limits costs one
// round trip, and each INCRBY is atomic against every other instance.
const CONSUME_MANY = `
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('incrby', key, ARGV[2 * i - 1])
  local ttl = tonumber(ARGV[2 * i])
  if ttl > 0 and redis.call('pttl', key) == -1 then redis.call('expire', key, ttl) end
  out[i] = n
end
return out`;

const PEEK = `return redis.call('get', KEYS[1])`;

/** A batch is sent at once when it holds this many counters (a script runs alone in Redis: keep it short). */
const MAX_BATCH_KEYS = 256;

interface PendingConsume {
  items: readonly { key: string; points: number; ttlSeconds: number }[];
  resolve(counts: number[]): void;
  reject(err: Error): void;
}

/**
 * Every call is one EVAL through the caller's client, so each one is bounded by that client's command
 * timeout (the gateway's: src/redis-client.ts). No MULTI: node-redis applies neither the timeout nor the
 * offline check to MULTI, so a transaction sent to a frozen Redis would wait for ever.
 */
class RedisStore implements LimiterStore {
  readonly kind = 'redis';
  constructor(
    private readonly client: RedisLike,
    private readonly prefix: string,
    private readonly onClose?: () => Promise<void>,
  ) {}

  /**
   * Batched: the consumes asked for during one turn of the event loop (the requests whose bytes arrived
   * together) go to Redis as one script, each request's increments in the order asked. The script runs
   * atomically, so every INCRBY still returns its own count: exactly what separate scripts sent back to back
   * would return, for a fraction of the client work and Redis commands per request.
   */
  consumeMany(items: readonly { key: string; points: number; ttlSeconds: number }[]): Promise<number[]> {
    try {
      this.#ready();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<number[]>((resolve, reject) => {
      const batch = this.#batch;
      if (batch.length === 0) setImmediate(this.#send);
      batch.push({ items, resolve, reject });
      this.#batchItems += items.length;
      if (this.#batchItems >= MAX_BATCH_KEYS) this.#send();
    });
  }

  #batch: PendingConsume[] = [];
  #batchItems = 0;

  readonly #send = (): void => {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    this.#batchItems = 0;
    const keys: string[] = [];
    const args: string[] = [];
    for (const b of batch) {
      for (const i of b.items) {
        // prefix:key, the layout of rate-limiter-flexible's RateLimiterRedis (used here before), so counters survive an upgrade.
        keys.push(`${this.prefix}:${i.key}`);
        args.push(String(i.points), String(Math.floor(i.ttlSeconds)));
      }
    }
    let sent: Promise<unknown>;
    try {
      sent = this.client.eval(CONSUME_MANY, { keys, arguments: args });
    } catch (err) {
      sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    sent.then(
      (counts) => {
        const all = counts as (number | string)[];
        let at = 0;
        for (const b of batch) {
          const out = new Array<number>(b.items.length);
          for (let k = 0; k < out.length; k++) out[k] = Number(all[at++]);
          b.resolve(out);
        }
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err as Error);
      },
    );
  };

  async consume(key: string, points: number, ttlSeconds: number): Promise<CounterResult> {
    const [count] = await this.consumeMany([{ key, points, ttlSeconds }]);
    return { count };
  }

  async refund(key: string, points: number, ttlSeconds: number): Promise<void> {
    await this.consumeMany([{ key, points: -points, ttlSeconds }]);
  }

  async peek(key: string): Promise<number> {
    this.#ready();
    const v = await this.client.eval(PEEK, { keys: [`${this.prefix}:${key}`], arguments: [] });
    return v === null || v === undefined ? 0 : Number(v);
  }

  async close(): Promise<void> {
    await this.onClose?.();
  }

  #ready(): void {
    if (this.client.isReady === false) throw new Error('redis connection for limits is not ready');
  }
}

/**
 * Counters in this process. With a `journal`, every change is reported to it (to be persisted), and the
 * store starts from `restored` (what the journal persisted before a restart).
 */
export function createMemoryLimiterStore(opts: { journal?: CounterJournal; restored?: readonly RestoredCounter[]; onClose?: () => Promise<void> } = {}): LimiterStore {
  return new MemoryStore(opts.journal, opts.restored ?? [], opts.onClose);
}

/**
 * Counters in Redis under `namespace`. The client is the caller's (connected); `onClose` releases it.
 * No insurance limiter: when Redis fails the policy decides (fail open or closed), and says so in the log.
 */
export function createRedisLimiterStore(client: RedisLike, namespace: string, onClose?: () => Promise<void>): LimiterStore {
  return new RedisStore(client, namespace.replace(/:$/, ''), onClose);
}
