/**
 * The consumers part of the composition root (./services.ts): opens the SQL store, syncs what the config
 * declares (only once the config compiled: see ./services.ts), and builds the services the auth,
 * rate-limit, usage and OAuth2 policies get, each over the narrow view of the store it needs: the consumer
 * directory (in-memory, polling the store's change log), the limiter store (memory, or Redis when `redis`
 * is set) and the usage counter (flushed to the store in batches). Nothing is opened when the config uses
 * none of this, so a plain proxy never creates a database file.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { formatProblem } from '../config/load.js';
import type { KeyPath, LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createConsumerDirectory } from '../consumers/directory.js';
import { createPersistedMemoryLimiterStore } from '../consumers/limit-journal.js';
import { createRedisLimiterStore } from '../consumers/limiter.js';
import type { LimiterStore, RedisLike } from '../consumers/limiter.js';
import { createUsageCounter } from '../consumers/usage.js';
import type { ConsumerServices } from '../consumers/services.js';
import { openRedisConnection } from '../redis-client.js';
import type { RedisConnection } from '../redis-client.js';
import { CONSUMER_LOOKUP, LIMIT_COUNTER_JOURNAL, narrow, OAUTH_TOKEN_STORE, openStore, redactStoreUrl, USAGE_SINK } from '../store/index.js';
import type { Declared, DeclaredCredential, Store, SyncReport } from '../store/index.js';

export { usesConsumers } from './uses-consumers.js';

/** What a sync would write, and the declared credentials it skips because their value is empty. */
interface DeclaredConfig {
  declared: Declared;
  /** Key paths of empty declared credentials (an unset `${VAR:-}`): skipped; their application revokes nothing. */
  skipped: KeyPath[];
}

/** The config's consumers part in the store's terms. */
function declaredFrom(config: Config): DeclaredConfig {
  const skipped: KeyPath[] = [];
  const declared: Declared = {
    services: Object.entries(config.services).map(([id, s]) => ({
      id,
      name: s.name,
      token: s.token || undefined,
      metrics: Object.entries(s.metrics).map(([name, description]) => ({ name, description })),
      mappingRules: s.mappingRules,
    })),
    plans: Object.entries(config.plans).map(([id, p]) => ({
      id,
      name: p.name,
      serviceId: p.service ?? null,
      limits: Object.entries(p.limits).flatMap(([metric, ls]) => ls.map((l) => ({ metric, period: l.per, max: l.max }))),
      throttles: p.throttles.map((t) => ({ metric: t.metric, per: t.per, max: t.max, algorithm: t.algorithm })),
    })),
    applications: config.applications.map((a, i) => {
      const credentials: DeclaredCredential[] = [];
      for (const [field, kind] of [['keys', 'api_key'], ['userKeys', 'user_key'], ['appKeys', 'app_key']] as const) {
        a[field].forEach((k, j) => {
          const secret = typeof k === 'string' ? k : k.key;
          if (secret === '') skipped.push(typeof k === 'string' ? ['applications', i, field, j] : ['applications', i, field, j, 'key']);
          else credentials.push(typeof k === 'string' || !k.scopes ? { kind, secret } : { kind, secret, scopes: k.scopes });
        });
      }
      for (const c of a.oauth2Clients) {
        credentials.push({ kind: 'oauth2_client', clientId: c.id, clientType: c.type, secret: c.secret, grants: c.grants, scopes: c.scopes, redirectUris: c.redirectUris });
      }
      const keepUndeclared = skipped.some((p) => p[1] === i);
      return { id: a.id, name: a.name, plan: a.plan, service: a.service, state: a.state, description: a.description, credentials, ...(keepUndeclared ? { keepUndeclared } : {}) };
    }),
    users: config.users.map((u) => ({ username: u.username, password: u.password, application: u.application })),
  };
  return { declared, skipped };
}

/** One warning line per skipped credential, as FILE:LINE: key.path: what happened. */
function skippedWarnings(loaded: LoadedConfig, skipped: readonly KeyPath[]): string[] {
  return skipped.map((path) =>
    formatProblem({
      file: loaded.source.file,
      line: loaded.source.lineOf(path),
      path,
      message: "empty (its variable is unset): skipped; none of this application's config keys is revoked",
    }),
  );
}

/** Syncs the config's declarations into the store; warns about the credentials it skipped. */
export async function syncConfig(store: Store, loaded: LoadedConfig, warn: (line: string) => void): Promise<SyncReport> {
  const { declared, skipped } = declaredFrom(loaded.config);
  for (const line of skippedWarnings(loaded, skipped)) warn(line);
  return store.syncDeclared(declared);
}

export interface ConsumerRuntime {
  services: ConsumerServices;
  store: Store;
  /**
   * Syncs the config's declarations into the store (at start and on reload, once the config compiled) and
   * makes the directory see the result before the caller starts serving with it.
   */
  sync(loaded: LoadedConfig): Promise<SyncReport>;
  /** Flushes usage, stops polling, closes Redis and the store. */
  close(): Promise<void>;
}

/**
 * The limiter's view of the gateway's Redis connection (src/redis-client.ts: bounded commands, no offline
 * queue, reconnects by itself): while Redis is away each limit check fails within the timeout and the
 * policy applies `rate-limit.failOpen`.
 */
function limiterRedis(conn: RedisConnection): RedisLike {
  const unavailable = (): Promise<never> => Promise.reject(new Error('redis for rate limits is unavailable (retrying in the background)'));
  // The limiter's scripts go as their SHA1 (EVALSHA), and as text again only when Redis says it does not
  // know them (after a restart or SCRIPT FLUSH).
  const shas = new Map<string, string>();
  return {
    eval(script, options) {
      if (!conn.available) return unavailable();
      let sha = shas.get(script);
      if (!sha) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')));
      const { client } = conn;
      return conn.call(client.evalSha(sha, options).catch((err: Error) => (/NOSCRIPT/.test(err.message) ? client.eval(script, options) : Promise.reject(err))));
    },
    // The limiter store refuses at once while this is false (disconnected, or failed in the last second).
    get isReady() {
      return conn.available;
    },
  };
}

/** Opens the store, limiter and directory; writes nothing (the caller syncs once the config compiled). */
export async function startConsumers(config: Config, log: Logger, opts: { sharedLimiter?: () => LimiterStore } = {}): Promise<ConsumerRuntime> {
  let store: Store;
  try {
    // Request paths wait storeTimeout (directory.ts); background queries 10× that before their connection is dropped.
    store = await openStore(config.store, { timeouts: { connectMs: config.limits.storeTimeout, queryMs: 10 * config.limits.storeTimeout } });
  } catch (err) {
    throw new Error(`cannot open the store ${redactStoreUrl(config.store)}: ${(err as Error).message}`, { cause: err });
  }
  let limiter: LimiterStore | undefined;
  try {
    if (config.redis.url) {
      const conn = await openRedisConnection(config.redis, 'rate limits', log);
      limiter = createRedisLimiterStore(limiterRedis(conn), config.limits.namespace, () => conn.close());
    } else if (opts.sharedLimiter) {
      // A worker process (src/cluster/): the counters live in the primary, shared by every worker.
      limiter = opts.sharedLimiter();
    } else {
      // Without Redis, counters live in this process and are persisted to the store (limit-journal.ts).
      limiter = await createPersistedMemoryLimiterStore(narrow(store, LIMIT_COUNTER_JOURNAL), { flushMs: config.limits.usageFlush, log });
    }
    const directory = await createConsumerDirectory(narrow(store, CONSUMER_LOOKUP), { refreshMs: config.limits.refresh, storeTimeoutMs: config.limits.storeTimeout, log });
    const sink = narrow(store, USAGE_SINK);
    const usage = createUsageCounter((batch) => sink.recordUsage(batch), { flushMs: config.limits.usageFlush, log });
    const lim = limiter;
    return {
      services: { directory, limiter: lim, usage, oauth: narrow(store, OAUTH_TOKEN_STORE) },
      store,
      async sync(loaded) {
        const report = await syncConfig(store, loaded, (line) => log.warn(line));
        if (report.created || report.updated || report.revoked) log.info({ ...report }, 'config consumers synced into the store');
        // Keys the sync created or revoked count from this config on, not from the next poll.
        await directory.refresh();
        return report;
      },
      async close() {
        await usage.close().catch((e: unknown) => log.error({ err: (e as Error).message }, 'final usage flush failed'));
        await directory.close();
        await lim.close();
        await store.close();
      },
    };
  } catch (err) {
    await limiter?.close();
    await store.close();
    throw err;
  }
}
