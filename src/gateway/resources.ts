/**
 * The data resources part of the composition root (./services.ts): opens the resource tables'
 * connection to the store when the config declares resources, and creates or migrates their tables once a
 * config has compiled. Nothing is opened for a config without resources.
 */
import type { Config } from '../config/schema.js';
import type { ResourceDb } from '../resources/db.js';
import type { ReadRouting } from '../resources/sql-table.js';
import type { ResourceRegistry } from '../resources/types.js';

export interface ResourceRuntime {
  /** Tables of this config's resources (no database work until a route uses one). */
  registry(config: Config): ResourceRegistry & { ensure(): Promise<void> };
  close(): Promise<void>;
}

export function usesResources(config: Config): boolean {
  return Object.keys(config.resources).length > 0;
}

/**
 * Opens the connections: the leader (`store:`) and any read replicas (one set per gateway; a reload that
 * changes `store:` or `storeReplicas.urls` needs a restart, as for consumers).
 */
export async function startResources(config: Config): Promise<ResourceRuntime> {
  // Kysely and the SQL drivers load only for configs that declare resources.
  const [{ ensureTable, openResourceDb }, { SqlResourceTable }] = await Promise.all([import('../resources/db.js'), import('../resources/sql-table.js')]);
  // The consumer store's bounds: a Postgres that stops answering fails a resource query, never hangs it.
  const timeouts = { connectMs: config.limits.storeTimeout, queryMs: 10 * config.limits.storeTimeout };
  const rdb: ResourceDb = await openResourceDb(config.store, timeouts);
  const replicas: ResourceDb[] = [];
  try {
    for (const url of config.storeReplicas.urls) replicas.push(await openResourceDb(url, timeouts));
  } catch (e) {
    await Promise.all([rdb, ...replicas].map((d) => d.close()));
    throw e;
  }
  const lastWrite = new Map<string, number>();
  return {
    registry(c) {
      const routing: ReadRouting = { replicas, leaderAfterWriteMs: c.storeReplicas.leaderAfterWrite, lastWrite };
      const tables = new Map(Object.entries(c.resources).map(([name, r]) => [name, new SqlResourceTable(name, r, rdb, routing)]));
      return {
        get: (name) => tables.get(name),
        async ensure() {
          for (const t of tables.values()) await ensureTable(rdb, t.name, t.config);
        },
      };
    },
    close: async () => {
      await Promise.all([rdb, ...replicas].map((d) => d.close()));
    },
  };
}
