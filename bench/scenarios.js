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
import { startMinimal, startNaive, startNginxTarget } from './lib/targets.js';

export const BIG_MB = 200;
const BIG = `/big?mb=${BIG_MB}`;

const ratio = (a, b) => (a && b ? a.rps / b.rps : NaN);

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
      { goal: 'req/s >= 0.9x minimal forwarder', pass: ratio(row, rows.get('minimal')) >= 0.9, detail: ratio(row, rows.get('minimal')) },
      { goal: 'req/s >= 1.4x naive forwarder', pass: ratio(row, rows.get('naive')) >= 1.4, detail: ratio(row, rows.get('naive')) },
      { goal: 'p99 <= 15 ms at 50 connections', pass: row.p99 <= 15, detail: row.p99 },
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
  // Later issues add lines like:
  // { id: 'cache-hit', name: 'tollgate cache hit 1 KB', config: 'bench/configs/cache.yaml', path: '/cached', compareTo: 'plain' },
  // { id: 'auth-limit', name: 'key-auth + rate-limit', config: 'bench/configs/auth.yaml', headers: { 'x-api-key': 'bench' }, compareTo: 'plain' },
  // { id: 'rewrite', name: 'JSON rewrite 100 KB', config: 'bench/configs/rewrite.yaml', path: '/json100k', compareTo: 'plain' },
];
