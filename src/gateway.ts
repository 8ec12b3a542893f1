/**
 * The composition root: loads a config, builds the services policies need, compiles the snapshot, and runs
 * the proxy and admin listeners. Used by `tollgate start`, `tollgate demo` and the integration tests.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { redactConfig } from './admin/redact.js';
import { describeRoutes } from './admin/routes.js';
import { adminToken } from './admin/token.js';
import { cachePoliciesOf } from './policies/cache/purge-filters.js';
import { storeOperations } from './store/operations.js';
import { compileConfig } from './config/compile.js';
import { ConfigError, loadConfigFile, parseConfig } from './config/load.js';
import type { LoadedConfig } from './config/load.js';
import type { PolicyServices } from './policies/types.js';
import { CacheStorePool } from './policies/cache/registry.js';
import { startConsumers, usesConsumers } from './gateway-consumers.js';
import type { ConsumerRuntime } from './gateway-consumers.js';
import { startResources, usesResources } from './gateway-resources.js';
import type { ResourceRuntime } from './gateway-resources.js';
import { createProxyServer } from './proxy/server.js';
import type { ProxyServer } from './proxy/server.js';
import type { Snapshot } from './proxy/snapshot.js';
import { Traffic } from './proxy/traffic.js';
import type { LimiterStore } from './consumers/limiter.js';

export interface GatewayOptions {
  /** Config file path (used for reload), or inline text with a display name. */
  configFile?: string;
  configText?: { text: string; name: string };
  /** The config already parsed (by `tollgate start`, for its log settings): used at start instead of reading it again. */
  loaded?: LoadedConfig;
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** Command-line overrides; they beat the config file. */
  overrides?: { host?: string; port?: number; adminPort?: number; adminHost?: string; adminEnabled?: boolean };
  /**
   * Set in a worker process (src/cluster/worker.ts): the primary syncs declared consumers into the store
   * (so a sync is the directory's refresh here) and holds the limit counters every worker shares.
   */
  worker?: { sharedLimiter: () => LimiterStore; traffic: (admin: boolean) => Traffic };
}

/** A compiled config not yet serving: `commit` swaps it in, `abort` drops it (the primary's all-or-nothing reload). */
export interface StagedReload {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface Gateway {
  proxy: ProxyServer;
  admin: FastifyInstance | undefined;
  url: string;
  adminUrl: string | undefined;
  /**
   * Re-reads the config file. All or nothing: parse, validate, compile, then sync declared consumers, then
   * swap. On error nothing was written and the running config keeps serving; the error is thrown.
   */
  reload(): Promise<void>;
  /** The first half of reload: parse (`source`, or the config file), compile; nothing serves it or is written yet. */
  stage(source?: { text: string; name: string }): Promise<StagedReload>;
  shutdown(): Promise<void>;
}

function applyOverrides(loaded: LoadedConfig, o: GatewayOptions['overrides']): LoadedConfig {
  if (!o) return loaded;
  const c = loaded.config;
  if (o.host !== undefined) c.listen.host = o.host;
  if (o.port !== undefined) c.listen.port = o.port;
  if (o.adminHost !== undefined) c.admin.host = o.adminHost;
  if (o.adminPort !== undefined) c.admin.port = o.adminPort;
  if (o.adminEnabled !== undefined) c.admin.enabled = o.adminEnabled;
  return loaded;
}

function load(opts: GatewayOptions): LoadedConfig {
  const env = opts.env ?? process.env;
  if (opts.configText) return applyOverrides(parseConfig(opts.configText.text, opts.configText.name, env), opts.overrides);
  if (!opts.configFile) throw new ConfigError([{ file: '(none)', path: [], message: 'no config file given' }]);
  return applyOverrides(loadConfigFile(opts.configFile, env), opts.overrides);
}

function buildServices(loaded: LoadedConfig, cachePool: CacheStorePool): PolicyServices {
  return { cacheStores: cachePool.registry(loaded.config.redis) };
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { log } = opts;
  const loaded = opts.loaded ? applyOverrides(opts.loaded, opts.overrides) : load(opts);
  const env = opts.env ?? process.env;
  let token = adminToken(loaded, env);
  // Cache stores outlive reloads (same settings, same entries); each snapshot's policies lease them.
  const cachePool = new CacheStorePool(log);
  // Consumers (store, limiter, usage) live as long as the gateway: reloads re-sync, they do not reopen.
  let consumers: ConsumerRuntime | undefined;
  // Resource tables' connection, opened with the first config that declares resources; kept across reloads.
  let resources: ResourceRuntime | undefined;

  /**
   * A config to serve, all or nothing (as Caddy applies one): it is parsed and validated (load), compiled
   * (every policy block checked and created), and only then are its side effects applied (declared
   * consumers synced into the store). Any failure undoes what this call opened and writes nothing.
   */
  const prepare = async (l: LoadedConfig, previous: Snapshot | undefined): Promise<Snapshot> => {
    if (usesResources(l.config)) resources ??= await startResources(l.config);
    const tables = resources?.registry(l.config);
    const services = { ...buildServices(l, cachePool), ...(tables ? { resources: tables } : {}) };
    const needsConsumers = usesConsumers(l.config);
    // Opening writes nothing: the store, the limiter and the directory (policies hold on to them).
    const opened = needsConsumers && !consumers ? await startConsumers(l.config, log, { sharedLimiter: opts.worker?.sharedLimiter }) : undefined;
    const runtime = consumers ?? opened;
    const undoOpen = async () => {
      await opened?.close();
    };
    let snap: Snapshot;
    try {
      snap = await compileConfig(l, { log, services: runtime && needsConsumers ? { ...services, consumers: runtime.services } : services, previous });
    } catch (e) {
      await undoOpen();
      throw e;
    }
    try {
      // Tables are created or migrated (additive only) before the config serves.
      await tables?.ensure();
      if (needsConsumers && runtime) await (opts.worker ? runtime.services.directory.refresh() : runtime.sync(l));
    } catch (e) {
      // The sync is one transaction: it wrote nothing. Drop what this snapshot created, keep what it shares.
      await snap.retire(previous).catch(() => undefined);
      await undoOpen();
      throw e;
    }
    if (opened) consumers = opened;
    return snap;
  };

  let snapshot: Snapshot;
  try {
    snapshot = await prepare(loaded, undefined);
  } catch (e) {
    await cachePool.close();
    await resources?.close();
    throw e;
  }
  // Counted only when something reads the counts (the admin listener's /metrics and dashboard).
  // In a worker process every worker counts: the admin worker's figures add up all of them (src/cluster/traffic.ts).
  const counted = loaded.config.metrics.enabled && (loaded.config.admin.enabled || opts.worker !== undefined);
  const traffic = counted ? (opts.worker?.traffic(loaded.config.admin.enabled) ?? new Traffic()) : undefined;
  let proxy: ProxyServer;
  try {
    const tlsFiles = loaded.config.listen.tls;
    const read = async (key: 'cert' | 'key'): Promise<Buffer> => {
      const file = tlsFiles![key];
      try {
        return await readFile(resolve(dirname(resolve(loaded.source.file)), file));
      } catch (e) {
        throw new Error(`listen.tls.${key}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
      }
    };
    const tls = tlsFiles ? { cert: await read('cert'), key: await read('key') } : undefined;
    proxy = createProxyServer(snapshot, log, { accessLog: loaded.config.log.accessLog, tls, traffic });
  } catch (e) {
    await snapshot.retire(undefined);
    await consumers?.close();
    await cachePool.close();
    throw e;
  }
  let loadedAt = new Date().toISOString();
  let ready = false;
  const bound = await proxy.listen(loaded.config.listen.host, loaded.config.listen.port).catch(async (e: unknown) => {
    await consumers?.close();
    await cachePool.close();
    throw e;
  });
  let admin: FastifyInstance | undefined;
  let adminUrl: string | undefined;
  if (loaded.config.admin.enabled) {
    // Fastify loads only when the admin listener is on.
    const { createAdminServer } = await import('./admin/server.js');
    admin = await createAdminServer({
      ready: () => ready && !proxy.state.draining,
      info: () => ({ config: opts.configFile ?? opts.configText?.name, loadedAt, routes: proxy.current().routes.length }),
      token: () => token,
      api: {
        operations: () => (consumers ? storeOperations(consumers.store) : undefined),
        config: () => redactConfig(proxy.current().config, proxy.current().redactText),
        routes: () => describeRoutes(proxy.current()),
        cache: { stores: () => cachePool.openStores(), caches: () => cachePoliciesOf(proxy.current().config) },
      },
      docs: { snapshot: () => proxy.current(), proxyUrl: () => bound.url },
      metrics: traffic && { traffic, cache: () => cachePool.totals, usageLagMs: () => consumers?.services.usage.lagMs(), consumers: () => consumers?.services },
    });
    try {
      const addr = await admin.listen({ host: loaded.config.admin.host, port: loaded.config.admin.port });
      adminUrl = addr;
    } catch (e) {
      await proxy.shutdown(0);
      await consumers?.close();
      await cachePool.close();
      throw e;
    }
  }
  ready = true;
  let reloading: Promise<void> = Promise.resolve();

  return {
    proxy,
    admin,
    url: bound.url,
    adminUrl,
    reload() {
      // Reloads run one at a time, in order.
      reloading = reloading.catch(() => undefined).then(async () => {
        const next = load(opts);
        const nextToken = adminToken(next, env);
        const snap = await prepare(next, proxy.current());
        token = nextToken;
        loadedAt = new Date().toISOString();
        void proxy.swap(snap).catch((e) => log.error({ err: e }, 'retiring the previous config failed'));
        log.info({ routes: snap.routes.length }, 'config reloaded');
      });
      return reloading;
    },
    stage(source) {
      // Queued like reload; the queue waits until the staged config is committed or aborted.
      let release!: () => void;
      const staged = reloading.catch(() => undefined).then(async (): Promise<StagedReload> => {
        const next = applyOverrides(source ? parseConfig(source.text, source.name, env) : load(opts), opts.overrides);
        const nextToken = adminToken(next, env);
        const previous = proxy.current();
        // In a worker the directory sees the primary's sync at commit, so prepare's refresh is repeated there.
        const snap = await prepare(next, previous);
        return {
          async commit() {
            if (opts.worker && consumers && usesConsumers(next.config)) await consumers.services.directory.refresh();
            token = nextToken;
            loadedAt = new Date().toISOString();
            void proxy.swap(snap).catch((e) => log.error({ err: e }, 'retiring the previous config failed'));
            log.info({ routes: snap.routes.length }, 'config reloaded');
            release();
          },
          async abort() {
            await snap.retire(previous).catch(() => undefined);
            release();
          },
        };
      });
      reloading = staged.then(
        () => new Promise<void>((r) => (release = r)),
        () => undefined,
      );
      return staged;
    },
    async shutdown() {
      ready = false;
      await proxy.shutdown(proxy.current().config.listen.shutdownGrace);
      await admin?.close();
      // After the proxy drained: the last requests' usage is in the final flush.
      await consumers?.close();
      await resources?.close();
      await cachePool.close();
    },
  };
}
