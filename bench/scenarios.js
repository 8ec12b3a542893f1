// What `npm run bench` measures. To add a scenario: add a config under bench/configs/ and one
// entry below. Entry fields:
//   id         short key other entries and goals refer to
//   name       the label in the table
//   config     Tollgate config (started with UPSTREAM_URL set); or `start(upstream)` for anything else
//   path       request path for the load test (default '/')
//   headers    extra request headers for the load test, e.g. { 'x-api-key': '…' }
//   env        extra environment for the Tollgate process
//   compareTo  id of the row this one is measured against (adds a "vs <id>" ratio line)
//   download   path streamed once through the target for MiB/s and peak RSS growth
//   goals      (row, rows) => [{ goal, pass, detail }]; rows is a Map of id -> row
//   run        async (ctx) => object of extra figures, for measurements that are not a load test
//              (ctx: { url, upstream, pids, proc, seconds }); stored on the row as `extra`
import { startMinimal, startNaive, startNginxTarget, startTollgate } from './lib/targets.js';
import { cacheDir, coalesce, diskBig } from './lib/cache.js';
import { cpuPerRequest } from './lib/cpu.js';
import { startResources, writeThenRead } from './lib/resources.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIG_MB = 200;
const BIG = `/big?mb=${BIG_MB}`;

/** A config of `n` prefix routes /r0/ … /r{n-1}/ (written to the temp folder): the request goes to the last. */
function routesConfig(n) {
  const file = path.join(os.tmpdir(), 'tollgate-bench', `routes-${n}.yaml`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const routes = Array.from({ length: n }, (_, i) => `  - { name: r${i}, match: { prefix: /r${i}/ }, upstream: app }`);
  fs.writeFileSync(file, ['upstreams:', '  app: { url: "${UPSTREAM_URL}" }', 'routes:', ...routes, 'admin: { port: 0 }', ''].join('\n'));
  return file;
}

/** bench/configs/keys.yaml with its store in a SQLite file (worker processes share a store; :memory: is per process). */
function keysFileConfig() {
  const dir = path.join(os.tmpdir(), 'tollgate-bench');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'keys-file.yaml');
  const db = path.join(dir, `keys-${process.pid}.db`);
  const text = fs.readFileSync(new URL('./configs/keys.yaml', import.meta.url), 'utf8').replace('store: "sqlite::memory:"', `store: "sqlite:${db}"`);
  fs.writeFileSync(file, text);
  return file;
}

const ratio = (a, b) => (a && b ? a.rps / b.rps : NaN);

/** nginx with proxy_cache in front of the same upstream, cache lock on (its form of coalescing). */
function startNginxCache(name, upstream) {
  const dir = cacheDir(name);
  return startNginxTarget(name, upstream, {
    extraHttp: `proxy_cache_path ${dir} levels=1:2 keys_zone=${name.replace(/\W/g, '_')}:10m max_size=1g inactive=1h use_temp_path=off;`,
    extraLocation: `proxy_cache ${name.replace(/\W/g, '_')}; proxy_cache_valid 200 1h; proxy_cache_lock on; proxy_cache_lock_timeout 10s; add_header X-Cache $upstream_cache_status;`,
  });
}

export const scenarios = [
  // References: the same upstream reached directly, through the Node floor, a naive forwarder and nginx.
  { id: 'direct', name: 'direct upstream', start: (upstream) => ({ url: upstream, shared: true }), download: BIG },
  { id: 'minimal', name: 'minimal forwarder', start: startMinimal, download: BIG },
  { id: 'naive', name: 'naive forwarder', start: startNaive, download: BIG },
  { id: 'nginx', name: 'nginx (1 worker)', start: (upstream) => startNginxTarget('nginx', upstream), download: BIG },

  // Tollgate scenarios.
  {
    id: 'plain',
    name: 'tollgate plain',
    config: 'bench/configs/plain.yaml',
    path: '/',
    download: BIG,
    goals: (row, rows) => [
      // Issue 13's goals (Node's floor is the minimal forwarder).
      { goal: 'req/s >= 0.95x minimal forwarder', pass: ratio(row, rows.get('minimal')) >= 0.95, detail: ratio(row, rows.get('minimal')) },
      { goal: 'p99 <= 1.2x the minimal forwarder p99', pass: !!rows.get('minimal') && row.p99 <= 1.2 * rows.get('minimal').p99, detail: rows.get('minimal') ? row.p99 / rows.get('minimal').p99 : NaN },
    ],
    downloadGoals: (dl, downloads) => {
      const nginx = downloads.get('nginx');
      const naive = downloads.get('naive');
      const speed = nginx
        ? { goal: 'download >= 0.5x nginx MiB/s', pass: dl.mibPerSec >= 0.5 * nginx.mibPerSec, detail: dl.mibPerSec / nginx.mibPerSec }
        : { goal: 'download >= naive MiB/s (no nginx figure)', pass: !!naive && dl.mibPerSec >= naive.mibPerSec, detail: naive ? dl.mibPerSec / naive.mibPerSec : NaN };
      return [speed, { goal: `peak RSS growth <= 30 MiB over ${BIG_MB} MB`, pass: dl.rssGrowthMiB !== null && dl.rssGrowthMiB <= 30, detail: dl.rssGrowthMiB }];
    },
  },
  { id: 'plain-json100k', name: 'tollgate plain, 100 KB JSON', config: 'bench/configs/plain.yaml', path: '/json100k' },
  { id: 'rewrite', name: 'rewrite-urls, 100 KB JSON', config: 'bench/configs/rewrite.yaml', path: '/json100k', compareTo: 'plain-json100k' },
  { id: 'netmetr', name: 'netmetr route (validate, to-post, form token, map-errors, download)', config: 'bench/configs/netmetr.yaml', path: '/opendata?year=2018&month=3', compareTo: 'plain' },
  // Consumers: key auth + rate limit (plan with a minute and a day limit) + usage, on the same route.
  {
    id: 'keys',
    name: 'key auth + rate limit + usage',
    config: 'bench/configs/keys.yaml',
    headers: { 'x-api-key': 'bench-key-0123456789' },
    compareTo: 'plain',
    goals: (row, rows) => [
      { goal: 'req/s >= 0.9x tollgate plain', pass: ratio(row, rows.get('plain')) >= 0.9, detail: ratio(row, rows.get('plain')) },
    ],
  },
  {
    id: 'keys-redis',
    name: 'key auth + rate limit (Redis) + usage',
    config: 'bench/configs/keys-redis.yaml',
    headers: { 'x-api-key': 'bench-key-0123456789' },
    compareTo: 'plain',
    goals: (row, rows) => [{ goal: 'req/s >= 0.75x tollgate plain', pass: ratio(row, rows.get('plain')) >= 0.75, detail: ratio(row, rows.get('plain')) }],
  },
  // Cache (issue 5): hits from memory against the plain route, the upstream itself and nginx proxy_cache;
  // coalescing of 100 concurrent misses; a 200 MB entry served from disk.
  { id: 'direct-json100k', name: 'direct upstream, 100 KB JSON', start: (upstream) => ({ url: upstream, shared: true }), path: '/json100k' },
  {
    id: 'cache-hit',
    name: 'tollgate cache hit 1 KB',
    config: 'bench/configs/cache.yaml',
    path: '/cached',
    compareTo: 'plain',
    run: coalesce,
    goals: (row, rows) => [
      { goal: 'req/s >= 0.9x direct (raw node:http, constant body)', pass: ratio(row, rows.get('direct')) >= 0.9, detail: ratio(row, rows.get('direct')) },
      { goal: '100 concurrent misses -> exactly 1 upstream request', pass: row.extra?.upstreamHits === 1, detail: row.extra?.upstreamHits ?? NaN },
      { goal: 'every waiter answered within 1.15x the upstream time (alone)', pass: row.extra?.waiterVsUpstream <= 1.15, detail: row.extra?.waiterVsUpstream ?? NaN },
      { goal: 'every waiter within 1.2x of 100 direct requests at once (same client)', pass: row.extra?.waiterVsDirectBurst <= 1.2, detail: row.extra?.waiterVsDirectBurst ?? NaN },
    ],
  },
  // CPU µs per 1 KB hit (steadier than req/s on a shared machine), beside the raw node:http answer of the same body.
  { id: 'direct-cpu', name: 'direct upstream /cached (cpu)', start: (upstream) => ({ url: upstream, shared: true }), path: '/cached', run: (ctx) => cpuPerRequest(ctx, { path: '/cached' }) },
  { id: 'cache-hit-cpu', name: 'tollgate cache hit 1 KB (cpu)', config: 'bench/configs/cache.yaml', path: '/cached', compareTo: 'direct-cpu', run: (ctx) => cpuPerRequest(ctx, { path: '/cached' }) },
  { id: 'cache-hit-nolog', name: 'tollgate cache hit 1 KB, access log off', config: 'bench/configs/cache-nolog.yaml', path: '/cached', compareTo: 'cache-hit' },
  {
    id: 'cache-hit-100k',
    name: 'tollgate cache hit 100 KB',
    config: 'bench/configs/cache.yaml',
    path: '/json100k',
    compareTo: 'plain-json100k',
    goals: (row, rows) => [
      { goal: 'req/s >= 0.9x direct 100 KB', pass: ratio(row, rows.get('direct-json100k')) >= 0.9, detail: ratio(row, rows.get('direct-json100k')) },
    ],
  },
  { id: 'nginx-cache', name: 'nginx proxy_cache hit 1 KB (1 worker)', start: (upstream) => startNginxCache('nginx-cache', upstream), path: '/cached', compareTo: 'cache-hit', run: coalesce },
  { id: 'nginx-cache-100k', name: 'nginx proxy_cache hit 100 KB (1 worker)', start: (upstream) => startNginxCache('nginx-cache-100k', upstream), path: '/json100k', compareTo: 'cache-hit-100k' },
  {
    id: 'cache-disk',
    name: 'tollgate cache hit 1 KB from disk',
    config: 'bench/configs/cache-disk.yaml',
    env: { CACHE_DIR: cacheDir('cache-disk') },
    path: '/cached',
    compareTo: 'cache-hit',
    run: (ctx) => diskBig(ctx, BIG_MB),
    goals: (row) => [
      { goal: `${BIG_MB} MB entry served from disk >= 400 MiB/s`, pass: row.extra?.hit?.mibPerSec >= 400, detail: row.extra?.hit?.mibPerSec ?? NaN },
      { goal: `peak RSS growth <= 30 MiB while serving ${BIG_MB} MB from disk`, pass: row.extra?.hit?.rssGrowthMiB <= 30, detail: row.extra?.hit?.rssGrowthMiB ?? NaN },
      { goal: `peak RSS growth <= 30 MiB while filling ${BIG_MB} MB`, pass: row.extra?.fill?.rssGrowthMiB <= 30, detail: row.extra?.fill?.rssGrowthMiB ?? NaN },
    ],
  },
  // Response scrubbing (issue 9): a credentials route masks its secrets in every response it passes on.
  // `cpu` rows also measure CPU µs per request of the server under test (see docs/benchmarks.md).
  // Routing cost as configs grow: the same request matching the only route, and the last of 5000.
  { id: 'routes-1', name: 'tollgate 1 prefix route', config: routesConfig(1), path: '/r0/x', run: (ctx) => cpuPerRequest(ctx, { path: '/r0/x' }) },
  {
    id: 'routes-5000',
    name: 'tollgate last of 5000 prefix routes',
    config: routesConfig(5000),
    path: '/r4999/x',
    compareTo: 'routes-1',
    run: (ctx) => cpuPerRequest(ctx, { path: '/r4999/x' }),
    goals: (row, rows) => [{ goal: 'req/s >= 0.95x one route', pass: ratio(row, rows.get('routes-1')) >= 0.95, detail: ratio(row, rows.get('routes-1')) }],
  },
  { id: 'minimal-cpu', name: 'minimal forwarder (cpu)', start: startMinimal, path: '/', run: (ctx) => cpuPerRequest(ctx, { path: '/' }) },
  { id: 'plain-cpu', name: 'tollgate plain (cpu)', compareTo: 'minimal-cpu', config: 'bench/configs/plain.yaml', path: '/', run: (ctx) => cpuPerRequest(ctx, { path: '/' }) },
  // What the access log costs per request (CPU µs, steadier than req/s on a shared machine): on and off, proxied and a cache hit.
  { id: 'plain-nolog-cpu', name: 'tollgate plain, access log off (cpu)', config: 'bench/configs/plain-nolog.yaml', path: '/', compareTo: 'plain-cpu', run: (ctx) => cpuPerRequest(ctx, { path: '/' }) },
  { id: 'cache-hit-nolog-cpu', name: 'tollgate cache hit 1 KB, access log off (cpu)', config: 'bench/configs/cache-nolog.yaml', path: '/cached', compareTo: 'cache-hit-cpu', run: (ctx) => cpuPerRequest(ctx, { path: '/cached' }) },
  { id: 'keys-cpu', name: 'key auth + rate limit + usage (cpu)', config: 'bench/configs/keys.yaml', headers: { 'x-api-key': 'bench-key-0123456789' }, compareTo: 'plain-cpu', run: (ctx) => cpuPerRequest(ctx, { path: '/', headers: { 'x-api-key': 'bench-key-0123456789' } }) },
  { id: 'keys-redis-cpu', name: 'key auth + rate limit (Redis) + usage (cpu)', config: 'bench/configs/keys-redis.yaml', headers: { 'x-api-key': 'bench-key-0123456789' }, compareTo: 'plain-cpu', run: (ctx) => cpuPerRequest(ctx, { path: '/', headers: { 'x-api-key': 'bench-key-0123456789' } }) },
  { id: 'credentials', name: 'credentials (bearer + query key), 1 KB', config: 'bench/configs/credentials.yaml', path: '/', compareTo: 'plain-cpu', download: BIG, run: (ctx) => cpuPerRequest(ctx, { path: '/' }) },
  { id: 'credentials-noscrub', name: 'credentials, scrubResponseBody: false, 1 KB', config: 'bench/configs/credentials.yaml', path: '/noscrub/', compareTo: 'plain-cpu', download: `/noscrub${BIG}`, run: (ctx) => cpuPerRequest(ctx, { path: '/noscrub/' }) },
  { id: 'plain-json100k-cpu', name: 'tollgate plain, 100 KB JSON (cpu)', config: 'bench/configs/plain.yaml', path: '/json100k', run: (ctx) => cpuPerRequest(ctx, { path: '/json100k', requests: 5_000 }) },
  { id: 'credentials-json100k', name: 'credentials, 100 KB JSON', config: 'bench/configs/credentials.yaml', path: '/json100k', compareTo: 'plain-json100k-cpu', run: (ctx) => cpuPerRequest(ctx, { path: '/json100k', requests: 5_000 }) },
  { id: 'credentials-noscrub-json100k', name: 'credentials, scrubResponseBody: false, 100 KB JSON', config: 'bench/configs/credentials.yaml', path: '/noscrub/json100k', compareTo: 'plain-json100k-cpu', run: (ctx) => cpuPerRequest(ctx, { path: '/noscrub/json100k', requests: 5_000 }) },
  // Data resources (issue 11): 1,000 sprockets loaded with `tollgate load-data`; list page (10 records) and
  // get-one, from the cache (memory) and straight from SQLite and Postgres; write-then-read on two instances.
  {
    id: 'res-get-hit',
    name: 'resource get-one, cache hit',
    start: (u) => startResources('res-get-hit', u, 'sqlite'),
    path: '/cached/sprocket/7',
    compareTo: 'cache-hit',
    goals: (row, rows) => [{ goal: 'req/s >= 0.9x cache hit 1 KB (proxied)', pass: ratio(row, rows.get('cache-hit')) >= 0.9, detail: ratio(row, rows.get('cache-hit')) }],
  },
  { id: 'res-list-hit', name: 'resource list page, cache hit', start: (u) => startResources('res-list-hit', u, 'sqlite'), path: '/cached/sprockets?page=3', compareTo: 'cache-hit' },
  {
    id: 'res-get-sqlite',
    name: 'resource get-one from SQLite (no cache)',
    start: (u) => startResources('res-get-sqlite', u, 'sqlite'),
    path: '/sprocket/7',
    compareTo: 'res-get-hit',
    goals: (row, rows) => [{ goal: 'req/s >= 0.5x resource cache hit', pass: ratio(row, rows.get('res-get-hit')) >= 0.5, detail: ratio(row, rows.get('res-get-hit')) }],
  },
  { id: 'res-list-sqlite', name: 'resource list page from SQLite (no cache)', start: (u) => startResources('res-list-sqlite', u, 'sqlite'), path: '/sprockets?page=3', compareTo: 'res-list-hit' },
  { id: 'res-get-pg', name: 'resource get-one from Postgres (no cache)', start: (u) => startResources('res-get-pg', u, 'postgres'), path: '/sprocket/7', compareTo: 'res-get-hit' },
  { id: 'res-list-pg', name: 'resource list page from Postgres (no cache)', start: (u) => startResources('res-list-pg', u, 'postgres'), path: '/sprockets?page=3', compareTo: 'res-list-hit' },
  {
    id: 'res-write-read',
    name: 'resource writes on two instances (Postgres, cache in Redis)',
    start: (u) => startResources('res-write-read', u, 'postgres', true),
    path: '/cached/sprocket/7',
    run: (ctx) => writeThenRead(ctx, 1000),
    goals: (row) => [{ goal: '0 stale reads in 1,000 write-then-read pairs across two instances', pass: row.extra?.stale === 0, detail: row.extra?.stale ?? NaN }],
  },
  // Worker processes (issue 13 §3), a reference pair in one run: Tollgate with 2 workers beside nginx with 2
  // workers. Neither is pinned: each uses both cores, which it shares with the upstream (core 0) and the load
  // generator (core 1), so these rows are not comparable with the pinned single-process rows above. The cpu
  // figure sums the primary/master and the workers (their shares are printed too).
  {
    id: 'plain-2w',
    name: 'tollgate plain, 2 workers (unpinned)',
    start: (u) => startTollgate('plain-2w', 'bench/configs/plain.yaml', u, {}, { workers: 2 }),
    compareTo: 'nginx-2w',
    run: (ctx) => cpuPerRequest(ctx, { path: '/' }),
  },
  { id: 'nginx-2w', name: 'nginx (2 workers, unpinned)', start: (u) => startNginxTarget('nginx-2w', u, { workers: 2, pin: false }), run: (ctx) => cpuPerRequest(ctx, { path: '/' }) },
  // The limiter the workers share without Redis: counters in the primary, asked over IPC (batched per event-loop turn).
  {
    id: 'keys-2w',
    name: 'key auth + rate limit + usage, 2 workers (unpinned, limits in the primary)',
    start: (u) => startTollgate('keys-2w', keysFileConfig(), u, {}, { workers: 2 }),
    headers: { 'x-api-key': 'bench-key-0123456789' },
    compareTo: 'plain-2w',
    run: (ctx) => cpuPerRequest(ctx, { path: '/', headers: { 'x-api-key': 'bench-key-0123456789' } }),
  },
  // Later issues add lines like:
];
