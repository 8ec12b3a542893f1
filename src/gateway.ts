/**
 * The gateway process: loads a config, has src/gateway/services.ts (the composition root) build the
 * services its policies need and compile its snapshot, and runs the proxy and admin listeners, reloads and
 * shutdown. Used by `tollgate start`, `tollgate demo` and the integration tests.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { AdminListener } from './admin/listener.js';
import type { AdminDeps } from './admin/server.js';
import type { Logger } from 'pino';
import { redactConfig } from './admin/redact.js';
import { describeRoutes } from './admin/routes.js';
import { adminToken } from './admin/token.js';
import { cachePoliciesOf } from './policies/cache/purge-filters.js';
import { ConfigError, loadConfigFile, parseConfig } from './config/load.js';
import type { LoadedConfig } from './config/load.js';
import { GatewayServices } from './gateway/services.js';
import { createProxyServer } from './proxy/server.js';
import type { ProxyServer } from './proxy/server.js';
import type { Snapshot } from './proxy/snapshot.js';
import { Traffic } from './proxy/traffic.js';
import type { WorkerHooks } from './gateway/services.js';

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
  worker?: WorkerHooks & { traffic: (admin: boolean) => Traffic };
}

/** A compiled config not yet serving: `commit` swaps it in, `abort` drops it (the primary's all-or-nothing reload). */
export interface StagedReload {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface Gateway {
  proxy: ProxyServer;
  admin: AdminListener | undefined;
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

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { log } = opts;
  const loaded = opts.loaded ? applyOverrides(opts.loaded, opts.overrides) : load(opts);
  const env = opts.env ?? process.env;
  let token = adminToken(loaded, env);
  // Cache stores, consumers and resources: built once, shared by every config this gateway serves.
  const services = new GatewayServices(log, opts.worker);
  const { cachePool } = services;

  let snapshot: Snapshot;
  try {
    snapshot = await services.prepare(loaded, undefined);
  } catch (e) {
    await services.close();
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
    await services.close();
    throw e;
  }
  let loadedAt = new Date().toISOString();
  let ready = false;
  const bound = await proxy.listen(loaded.config.listen.host, loaded.config.listen.port).catch(async (e: unknown) => {
    await services.close();
    throw e;
  });
  let admin: AdminListener | undefined;
  let adminUrl: string | undefined;
  if (loaded.config.admin.enabled) {
    // The listener binds now; fastify and the admin app load on its first request (src/admin/listener.ts).
    const { listenAdmin } = await import('./admin/listener.js');
    const adminDeps: AdminDeps = {
      ready: () => ready && !proxy.state.draining,
      info: () => ({ config: opts.configFile ?? opts.configText?.name, loadedAt, routes: proxy.current().routes.length }),
      token: () => token,
      api: {
        operations: () => services.operations(),
        config: () => redactConfig(proxy.current().config, proxy.current().redactText),
        routes: () => describeRoutes(proxy.current()),
        cache: { stores: () => cachePool.openStores(), caches: () => cachePoliciesOf(proxy.current().config) },
      },
      docs: { snapshot: () => proxy.current(), proxyUrl: () => bound.url },
      metrics: traffic && { traffic, cache: () => cachePool.totals, usageLagMs: () => services.consumers?.services.usage.lagMs(), consumers: () => services.consumers?.services },
    };
    try {
      admin = await listenAdmin(adminDeps, loaded.config.admin.host, loaded.config.admin.port);
      adminUrl = admin.url;
    } catch (e) {
      await proxy.shutdown(0);
      await services.close();
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
        const snap = await services.prepare(next, proxy.current());
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
        const snap = await services.prepare(next, previous);
        return {
          async commit() {
            // In a worker the directory sees the primary's sync only now (prepare's refresh came before it).
            if (opts.worker) await services.consumers?.services.directory.refresh();
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
      await services.close();
    },
  };
}
