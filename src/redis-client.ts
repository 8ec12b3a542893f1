/**
 * The gateway's Redis connections (the cache store's and the limiter store's) are opened here, with the
 * settings that keep a Redis outage from stalling requests:
 * - every call is answered within `timeout` or rejected (`bounded`), whether Redis is gone, frozen or slow.
 *   node-redis' own command timeout (`commandOptions.timeout`, set too) only covers the wait before a
 *   command is written: once sent, a command to a Redis that stopped answering waits until the socket dies;
 * - no offline queue: while the connection is down, commands fail at once instead of waiting for the
 *   reconnect (a queued command is a stalled request);
 * - the client reconnects by itself with a capped back-off, so the features using it recover without a
 *   restart when Redis returns. At start an unreachable Redis is an error (nothing has been served yet).
 * Connection errors are logged at most every 10 s, and the recovery once.
 *
 * This is the one place a Redis client is created (`connectRedis`): the cache's Redis store, the limiter
 * (through `openRedisConnection`, which adds the bound and the back-off every call needs) and the cache
 * registry's counters all get their connection here.
 */
import type * as Redis from 'redis';
import type { RedisClientType } from 'redis';
import type { Logger } from 'pino';
import type { RedisSettings } from './config/schema.js';

export type { RedisSettings };

// The client library loads with the first connection: configs without Redis never pay for it (and, until
// then, no error can be a Redis reply).
let redis: typeof Redis | undefined;

/** The client library, loaded once (the cache store needs its reply types too). */
export async function loadRedis(): Promise<typeof Redis> {
  redis ??= await import('redis');
  return redis;
}

const ERROR_LOG_INTERVAL_MS = 10_000;
const MAX_BACKOFF_MS = 1_000;
/** Connection attempts (at start and reconnects) may take this long: no request waits on them. */
const CONNECT_TIMEOUT_MS = 5_000;
/** A graceful close waits at most this long for Redis before dropping the connection. */
const CLOSE_WAIT_MS = 1_000;
/** After the connection was found down (or TIMEOUTS_BEFORE_BACKOFF timeouts in a row), callers skip Redis this long. */
export const TIMEOUTS_BEFORE_BACKOFF = 3;
const REDIS_BACKOFF_MS = 1_000;

export type GatewayRedisClient = RedisClientType;

/** Strips the password from a Redis URL before it goes into a message. */
function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable redis url)';
  }
}

export interface RedisConnectOptions {
  url: string;
  /** What the connection is for ("cache", "rate limits"), in log lines and errors. */
  purpose: string;
  /** node-redis' own bound of the wait before a command is written, ms; omitted: none (callers bound calls with `bounded`). */
  timeout?: number;
  /** Connection errors are logged here, at most every 10 s. */
  log?: Logger;
  /** Also told every connection error (the client reconnects by itself). */
  onError?: (err: Error) => void;
}

/**
 * Opens a connected client: no offline queue, reconnects by itself with a capped back-off once it was
 * connected. Rejects (the URL's password redacted) when Redis cannot be reached at start.
 */
export async function connectRedis(options: RedisConnectOptions): Promise<GatewayRedisClient> {
  const { url, purpose, log, onError } = options;
  let connected = false;
  let lastLog = 0;
  let failing = false;
  const lib = await loadRedis();
  const client: GatewayRedisClient = lib.createClient({
    url,
    disableOfflineQueue: true,
    ...(options.timeout === undefined ? {} : { commandOptions: { timeout: options.timeout } }),
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number, cause: Error) => (connected ? Math.min(50 * 2 ** Math.min(retries, 5), MAX_BACKOFF_MS) : cause),
    },
  });
  client.on('error', (err: Error) => {
    failing = true;
    onError?.(err);
    if (Date.now() - lastLog < ERROR_LOG_INTERVAL_MS) return;
    lastLog = Date.now();
    log?.warn({ err: err.message, redis: redactRedisUrl(url) }, `redis (${purpose}) connection error`);
  });
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    lastLog = 0;
    log?.info({ redis: redactRedisUrl(url) }, `redis (${purpose}) connection restored`);
  });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot connect to redis for ${purpose} at ${redactRedisUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  connected = true;
  return client;
}

/** A client for the gateway's `redis:` settings (every command bounded by `redis.timeout`). */
export function connectGatewayRedis(settings: RedisSettings, purpose: string, log: Logger | undefined): Promise<GatewayRedisClient> {
  return connectRedis({ url: settings.url, purpose, timeout: settings.timeout, log });
}

/** A connection whose calls are bounded and back off together while Redis is away. */
export interface RedisConnection {
  readonly client: GatewayRedisClient;
  /** Connected and not failed in the last second: while false, callers skip Redis instead of waiting on it. */
  readonly available: boolean;
  /** `p` (a command on `client`), rejected after `redis.timeout`; an unreachable Redis switches `available` off for a moment. */
  call<T>(p: Promise<T>): Promise<T>;
  /** Closes gracefully, or drops the connection when Redis does not answer. */
  close(): Promise<void>;
}

/** Opens a {@link RedisConnection} for the gateway's `redis:` settings. */
export async function openRedisConnection(settings: RedisSettings, purpose: string, log: Logger | undefined): Promise<RedisConnection> {
  const client = await connectGatewayRedis(settings, purpose, log);
  const backoff = new RedisBackoff(client);
  return {
    client,
    get available() {
      return backoff.available;
    },
    call: (p) =>
      bounded(p, settings.timeout).then(
        (v) => {
          backoff.answered();
          return v;
        },
        (err: unknown) => {
          backoff.failed(err);
          throw err;
        },
      ),
    close: () => closeGatewayRedis(client, settings.timeout),
  };
}

/**
 * True for failures that say Redis is unreachable or too slow (timeout, connection down or closed), as
 * opposed to an error reply from a working Redis (a script error, a wrong type).
 */
function isRedisUnavailable(err: unknown): boolean {
  return !(redis && err instanceof redis.ErrorReply);
}

/** A Redis call that did not answer within the bound. */
export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/**
 * `p`, or a RedisTimeoutError after `ms` (0: unbounded). The command itself stays queued in node-redis and
 * its late reply is dropped; the connection keeps its order.
 */
export function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  if (!(ms > 0)) return p;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Remembers that Redis failed recently, so the next callers skip it for a moment instead of each waiting
 * out the timeout of a Redis that does not answer. A lost connection skips at once; timeouts only after
 * TIMEOUTS_BEFORE_BACKOFF in a row with no answer between them, because one late answer on a busy machine
 * (a timer firing before the reply is read) must not switch Redis off for every request of the next second.
 */
export class RedisBackoff {
  #until = 0;
  #timeouts = 0;

  constructor(private readonly client: { readonly isReady: boolean }) {}

  /** Redis is connected and did not fail in the last second. */
  get available(): boolean {
    return this.client.isReady && Date.now() >= this.#until;
  }

  /** Records an answer: the timeouts before it were not an outage. */
  answered(): void {
    this.#timeouts = 0;
  }

  /** Records a failure; returns true when it was an unavailability (not an error reply). */
  failed(err: unknown): boolean {
    if (!isRedisUnavailable(err)) {
      this.#timeouts = 0;
      return false;
    }
    if (err instanceof RedisTimeoutError && ++this.#timeouts < TIMEOUTS_BEFORE_BACKOFF) return true;
    this.#timeouts = 0;
    this.#until = Date.now() + REDIS_BACKOFF_MS;
    return true;
  }
}

/** Closes gracefully, or drops the connection when Redis does not answer: a shutdown never waits on Redis. */
export async function closeGatewayRedis(client: GatewayRedisClient, timeout: number): Promise<void> {
  if (!client.isOpen) return;
  if (!client.isReady) return client.destroy();
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(CLOSE_WAIT_MS, timeout * 4))));
  const r = await Promise.race([client.close().then(() => 'closed' as const, () => 'failed' as const), gaveUp]);
  clearTimeout(timer);
  if (r !== 'closed' && client.isOpen) client.destroy();
}
