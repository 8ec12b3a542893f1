/**
 * The composition root: every service a policy can be given is built here, once per gateway, and handed to
 * each config as it compiles. src/gateway.ts runs the listeners, reloads and shutdown, and asks this for
 * each config's snapshot.
 * - cache stores: a pool shared across reloads (src/cache/registry.ts; Redis through src/redis-client.ts)
 * - consumers: the SQL store, the consumer directory, the limiter and the usage counter (./consumers.ts);
 *   the data plane gets the store's narrow views only
 * - resources: the resource tables' connections (./resources.ts)
 * The consumers and resources are opened with the first config that needs them and kept across reloads.
 */
import type { Logger } from 'pino';
import { compileConfig } from '../config/compile.js';
import type { LoadedConfig } from '../config/load.js';
import { CacheStorePool } from '../cache/registry.js';
import type { PolicyServices } from '../policies/types.js';
import type { Snapshot } from '../proxy/snapshot.js';
import { storeOperations } from '../store/operations.js';
import type { Operations } from '../store/operations.js';
import { usesConsumers } from './uses-consumers.js';
import type { ConsumerRuntime } from './consumers.js';
import { startResources, usesResources } from './resources.js';
import type { ResourceRuntime } from './resources.js';
import type { LimiterStore } from '../consumers/limiter.js';

/**
 * Set in a worker process (src/cluster/worker.ts): the primary syncs declared consumers into the store (a
 * worker only refreshes its directory) and holds the limit counters the workers share.
 */
export interface WorkerHooks {
  sharedLimiter: () => LimiterStore;
}

export class GatewayServices {
  /** Cache stores outlive reloads (same settings, same entries); each snapshot's policies lease them. */
  readonly cachePool: CacheStorePool;
  readonly #log: Logger;
  readonly #worker: WorkerHooks | undefined;
  /** Consumers (store, limiter, usage) live as long as the gateway: reloads re-sync, they do not reopen. */
  #consumers: ConsumerRuntime | undefined;
  /** Resource tables' connection, opened with the first config that declares resources; kept across reloads. */
  #resources: ResourceRuntime | undefined;

  constructor(log: Logger, worker?: WorkerHooks) {
    this.#log = log;
    this.#worker = worker;
    this.cachePool = new CacheStorePool(log);
  }

  /** The consumer services, once a config needed them. */
  get consumers(): ConsumerRuntime | undefined {
    return this.#consumers;
  }

  /** The control-plane operations on the store (the admin API's), once a config opened it. */
  operations(): Operations | undefined {
    return this.#consumers ? storeOperations(this.#consumers.store) : undefined;
  }

  /**
   * A config to serve, all or nothing (as Caddy applies one): it is parsed and validated (by the caller),
   * compiled (every policy block checked and created), and only then are its side effects applied (declared
   * consumers synced into the store). Any failure undoes what this call opened and writes nothing.
   */
  async prepare(l: LoadedConfig, previous: Snapshot | undefined): Promise<Snapshot> {
    const log = this.#log;
    if (usesResources(l.config)) this.#resources ??= await startResources(l.config);
    const tables = this.#resources?.registry(l.config);
    const services: PolicyServices = { cacheStores: this.cachePool.registry(l.config.redis), ...(tables ? { resources: tables } : {}) };
    const needsConsumers = usesConsumers(l.config);
    // Opening writes nothing: the store, the limiter and the directory (policies hold on to them).
    const opened = needsConsumers && !this.#consumers ? await (await import('./consumers.js')).startConsumers(l.config, log, { sharedLimiter: this.#worker?.sharedLimiter }) : undefined;
    const runtime = this.#consumers ?? opened;
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
      if (needsConsumers && runtime) await (this.#worker ? runtime.services.directory.refresh() : runtime.sync(l));
    } catch (e) {
      // The sync is one transaction: it wrote nothing. Drop what this snapshot created, keep what it shares.
      await snap.retire(previous).catch(() => undefined);
      await undoOpen();
      throw e;
    }
    if (opened) this.#consumers = opened;
    return snap;
  }

  /** Flushes usage and closes the store, the resource connections and the cache stores (after the proxy drained). */
  async close(): Promise<void> {
    await this.#consumers?.close();
    await this.#resources?.close();
    await this.cachePool.close();
  }
}
