/**
 * `tollgate cache purge|stats`: works on the stores a config's cache policies use that live outside the
 * gateway process (disk directories, Redis). In-process memory stores are only reachable through the
 * running gateway.
 *
 * Neither verb may disturb a running gateway: disk stores are opened without the clean-up at open (a fill in
 * progress in the gateway's tmp/ is its own). Only the cache settings need their ${VAR}s: an unset
 * UPSTREAM_URL or token elsewhere in the config does not stop `cache stats`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type * as RedisClient from '../redis-client.js';
import type * as Yaml from 'yaml';
import type * as Load from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/problems.js';
import type { Config } from '../config/schema.js';
import type * as PurgeFilters from '../policies/cache/purge-filters.js';
import type { RouteCache } from '../policies/cache/purge-filters.js';
import type * as Registry from '../cache/registry.js';
import type { Counters } from '../cache/registry.js';
import type * as Stores from '../cache/stores/index.js';
import type { CacheStore } from '../cache/stores/index.js';
import { adminClient } from '../admin/client.js';
import { DEFAULT_CONFIG, EXIT_OK, EXIT_USAGE, reportError } from './common.js';
import { adminTarget } from './store-common.js';
import { examples } from './help.js';

// Loaded by loadDeps() when a cache verb runs: `tollgate --help` and the other verbs do not pay for Redis,
// the YAML parser, the config schema and the cache stores.
let connectRedis: typeof RedisClient.connectRedis;
let parseYaml: typeof Yaml.parse;
let loadConfigFile: typeof Load.loadConfigFile;
let parseConfig: typeof Load.parseConfig;
let cachePoliciesOf: typeof PurgeFilters.cachePoliciesOf;
let purgeFilters: typeof PurgeFilters.purgeFilters;
let readDiskCounters: typeof Registry.readDiskCounters;
let readRedisCounters: typeof Registry.readRedisCounters;
let openDiskStore: typeof Stores.openDiskStore;
let openRedisStore: typeof Stores.openRedisStore;

async function loadDeps(): Promise<void> {
  const [redis, yaml, load, filters, registry, stores] = await Promise.all([
    import('../redis-client.js'),
    import('yaml'),
    import('../config/load.js'),
    import('../policies/cache/purge-filters.js'),
    import('../cache/registry.js'),
    import('../cache/stores/index.js'),
  ]);
  ({ connectRedis } = redis);
  parseYaml = yaml.parse;
  ({ loadConfigFile, parseConfig } = load);
  ({ cachePoliciesOf, purgeFilters } = filters);
  ({ readDiskCounters, readRedisCounters } = registry);
  ({ openDiskStore, openRedisStore } = stores);
}

interface StoreTarget {
  label: string;
  kind: 'disk' | 'redis';
  dir?: string;
  open(): Promise<CacheStore>;
  counters(): Promise<Counters>;
}

function storeTargets(config: Config, configDir: string, caches: RouteCache[]): { targets: StoreTarget[]; memoryRoutes: string[] } {
  const targets = new Map<string, StoreTarget>();
  const memoryRoutes: string[] = [];
  for (const { route, options } of caches) {
    if (options.store === 'memory') {
      memoryRoutes.push(route);
      continue;
    }
    if (options.store === 'redis' && config.redis.url) {
      targets.set('redis', {
        label: 'redis',
        kind: 'redis',
        open: () => openRedisStore({ url: config.redis.url }),
        counters: async () => {
          const client = await connectRedis({ url: config.redis.url, purpose: 'cache stats' });
          try {
            return await readRedisCounters(client);
          } finally {
            await client.close();
          }
        },
      });
    }
    // Tiered: its memory half lives in the gateway; the disk half is here. Redis: bodies too big for it.
    const dir = resolve(configDir, options.dir);
    targets.set(`disk:${dir}`, {
      label: `disk ${dir}`,
      kind: 'disk',
      dir,
      open: () => openDiskStore({ dir, maxSize: options.maxSize, cleanUp: false }),
      counters: () => Promise.resolve(readDiskCounters(dir)),
    });
  }
  return { targets: [...targets.values()], memoryRoutes };
}

function statsLine(label: string, s: { entries: number; bytes: number }, c: Counters, ratio: number | null): string {
  return (
    `${label}: ${s.entries} entr${s.entries === 1 ? 'y' : 'ies'}, ${mib(s.bytes)}, hit ratio ${ratio === null ? 'n/a' : `${(ratio * 100).toFixed(1)}%`} ` +
    `(hits ${c.hit}, misses ${c.miss}, stale ${c.stale}, revalidated ${c.revalidated}, bypass ${c.bypass})\n`
  );
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

const isCacheBlock = (b: unknown): boolean => typeof b === 'object' && b !== null && 'cache' in b;

/**
 * The config as far as the cache verbs need it: `redis`, and each route's cache policies (inline or named).
 * Tried whole first; when that fails, again with only those parts, so variables the cache does not use
 * (UPSTREAM_URL, tokens) need not be set. Problems in the cache parts themselves are still reported.
 */
function loadCacheConfig(configFile: string): LoadedConfig {
  try {
    return loadConfigFile(configFile);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    let doc: Record<string, unknown>;
    try {
      doc = (parseYaml(readFileSync(configFile, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch {
      throw e;
    }
    if (typeof doc !== 'object' || Array.isArray(doc)) throw e;
    const named = (doc.policies ?? {}) as Record<string, unknown>;
    const cacheNamed = Object.fromEntries(Object.entries(named).filter(([, b]) => isCacheBlock(b)));
    const isCacheRef = (ref: unknown) => (typeof ref === 'string' ? ref === 'cache' || ref in cacheNamed : isCacheBlock(ref));
    const routes = Array.isArray(doc.routes) ? (doc.routes as Record<string, unknown>[]) : [];
    const part = {
      ...(doc.redis !== undefined ? { redis: doc.redis } : {}),
      policies: cacheNamed,
      // Same indexes as the file, so problems name the right route; only what the cache verbs read.
      routes: routes.map((r, i) => ({
        name: typeof r?.name === 'string' ? r.name : `route-${i}`,
        match: { prefix: '/' },
        respond: { status: 204 },
        policies: Array.isArray(r?.policies) ? (r.policies as unknown[]).map((ref) => (isCacheRef(ref) ? ref : {})) : [],
      })),
    };
    return parseConfig(JSON.stringify(part), configFile);
  }
}

async function load(configFile: string): Promise<{ config: Config; caches: RouteCache[]; targets: StoreTarget[]; memoryRoutes: string[] }> {
  await loadDeps();
  const loaded = loadCacheConfig(configFile);
  const caches = cachePoliciesOf(loaded.config);
  const { targets, memoryRoutes } = storeTargets(loaded.config, dirname(resolve(loaded.source.file)), caches);
  return { config: loaded.config, caches, targets, memoryRoutes };
}

function noteMemory(memoryRoutes: string[]): void {
  if (memoryRoutes.length) {
    process.stderr.write(`note: routes ${memoryRoutes.join(', ')} cache in process memory; those entries are only reachable in the running gateway.\n`);
  }
}

export function registerCache(program: Command): void {
  const cache = examples(
    program.command('cache').description("Inspect and purge the cache stores a config uses (disk and Redis), or a running gateway's (memory too) with --admin."),
    'tollgate cache stats -c examples/discogs.yaml',
    'tollgate cache purge /releases/266364 -c examples/discogs.yaml',
    'tollgate cache purge --prefix /image/ -c examples/discogs.yaml',
    'tollgate cache purge --prefix /image/ --admin http://127.0.0.1:9080   # through the running gateway (memory stores too)',
  );

  cache
    .command('purge')
    .description('Remove cached entries: one URL (every variant and consumer), a key prefix, or a tag.')
    .argument('[url]', 'path (with query) or full URL of the entry to purge, e.g. /releases/266364')
    .option('-c, --config <file>', 'config file (YAML or JSON)', DEFAULT_CONFIG)
    .option('--prefix <prefix>', 'purge every entry whose path starts with this, e.g. /api/')
    .option('--tag <tag>', 'purge every entry tagged so by the upstream (Surrogate-Key / Cache-Tag)')
    .option('--admin <url>', "purge through a running gateway's admin API (default: $TOLLGATE_ADMIN_URL): reaches its memory stores too")
    .option('--admin-token <token>', 'admin token for --admin (default: $TOLLGATE_ADMIN_TOKEN)')
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate cache purge /releases/266364 -c discogs.yaml
  $ tollgate cache purge --prefix /image/ -c discogs.yaml
  $ tollgate cache purge --tag release-266364 -c discogs.yaml
  $ tollgate cache purge --prefix /image/ --admin http://127.0.0.1:9080   # the running gateway's stores, memory too

Prints how many entries each store removed. Exit 2 when nothing to purge is given.`,
    )
    .action(async (url: string | undefined, opts: { config: string; prefix?: string; tag?: string; admin?: string; adminToken?: string }) => {
      try {
        if (url === undefined && opts.prefix === undefined && opts.tag === undefined) {
          process.stderr.write('error: give a URL, --prefix or --tag\n');
          process.exitCode = EXIT_USAGE;
          return;
        }
        const admin = adminTarget(opts);
        if (admin) {
          // The running gateway purges its own stores, memory ones included (src/admin/cache.ts).
          const r = await adminClient(admin.url, admin.token).call<{ stores: { store: string; purged: number }[] }>('POST', '/api/cache/purge', { url, prefix: opts.prefix, tag: opts.tag });
          if (r.stores.length === 0) process.stdout.write('no cache stores open in this gateway\n');
          for (const t of r.stores) process.stdout.write(`${t.store}: purged ${t.purged} entr${t.purged === 1 ? 'y' : 'ies'}\n`);
          process.exitCode = EXIT_OK;
          return;
        }
        const { caches, targets, memoryRoutes } = await load(opts.config);
        const filters = purgeFilters({ url, prefix: opts.prefix, tag: opts.tag }, caches);
        if (targets.length === 0) process.stdout.write('no disk or redis cache stores in this config\n');
        for (const t of targets) {
          const store = await t.open();
          try {
            let n = 0;
            for (const f of filters) n += await store.purge(f);
            process.stdout.write(`${t.label}: purged ${n} entr${n === 1 ? 'y' : 'ies'}\n`);
          } finally {
            await store.close();
          }
        }
        noteMemory(memoryRoutes);
        process.exitCode = EXIT_OK;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });

  cache
    .command('stats')
    .description('Print entries, bytes and hit ratio of each disk and Redis cache store.')
    .option('-c, --config <file>', 'config file (YAML or JSON)', DEFAULT_CONFIG)
    .option('--json', 'print JSON')
    .option('--admin <url>', "ask a running gateway's admin API (default: $TOLLGATE_ADMIN_URL): its memory stores too, with its own counts")
    .option('--admin-token <token>', 'admin token for --admin (default: $TOLLGATE_ADMIN_TOKEN)')
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate cache stats -c discogs.yaml
  $ tollgate cache stats -c discogs.yaml --json
  $ tollgate cache stats --admin http://127.0.0.1:9080   # the running gateway's stores, memory too

Counters (hits, misses, stale, revalidated, bypass) are written by the running gateway every few seconds.`,
    )
    .action(async (opts: { config: string; json?: boolean; admin?: string; adminToken?: string }) => {
      try {
        const admin = adminTarget(opts);
        if (admin) {
          const r = await adminClient(admin.url, admin.token).call<{ results: (Counters & { store: string; entries: number; bytes: number; hitRatio: number | null })[] }>('GET', '/api/cache');
          if (opts.json) process.stdout.write(JSON.stringify(r.results, null, 2) + '\n');
          else if (r.results.length === 0) process.stdout.write('no cache stores open in this gateway\n');
          else for (const t of r.results) process.stdout.write(statsLine(t.store, t, t, t.hitRatio));
          process.exitCode = EXIT_OK;
          return;
        }
        const { targets, memoryRoutes } = await load(opts.config);
        const rows: Record<string, unknown>[] = [];
        for (const t of targets) {
          const store = await t.open();
          try {
            const s = await store.stats();
            const c = await t.counters();
            const served = c.hit + c.stale + c.revalidated;
            const ratio = served + c.miss > 0 ? served / (served + c.miss) : null;
            rows.push({ store: t.label, entries: s.entries, bytes: s.bytes, hitRatio: ratio, ...c });
            if (!opts.json) process.stdout.write(statsLine(t.label, s, c, ratio));
          } finally {
            await store.close();
          }
        }
        if (opts.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        else if (targets.length === 0) process.stdout.write('no disk or redis cache stores in this config\n');
        noteMemory(memoryRoutes);
        process.exitCode = EXIT_OK;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
