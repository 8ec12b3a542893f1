// What metrics cost the plain route, as CPU time per request of the gateway process (steadier than req/s on
// a shared machine): the plain route with metrics on (the default) and with `metrics: { enabled: false }`,
// in interleaved rounds with medians reported. Then the per-request counting alone, in this process.
// Run after `npm run build`:
//   node bench/metrics-cost.js            (METRICS_ROUNDS, default 7)
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Traffic } from '../dist/proxy/traffic.js';
import { cpuPerRequest } from './lib/cpu.js';
import { installCleanup, pinSelfToLoadCore, stopAll, workDir } from './lib/procs.js';
import { startTollgate, startUpstream } from './lib/targets.js';

const ROUNDS = Number(process.env.METRICS_ROUNDS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

installCleanup();
pinSelfToLoadCore();
const upstream = await startUpstream();
const offConfig = path.join(workDir, 'plain-metrics-off.yaml');
// METRICS_AA=1 gives the second process metrics on too (an A/A run: how far two identical processes differ).
fs.writeFileSync(offConfig, fs.readFileSync('bench/configs/plain.yaml', 'utf8') + (process.env.METRICS_AA ? '' : 'metrics: { enabled: false }\n'));
// METRICS_SWAP=1 starts the metrics-off process first: a check that the difference is not the processes' order.
const startOn = () => startTollgate('metrics-on', 'bench/configs/plain.yaml', upstream.url);
const startOff = () => startTollgate('metrics-off', offConfig, upstream.url);
let on, off;
if (process.env.METRICS_SWAP) {
  off = await startOff();
  on = await startOn();
} else {
  on = await startOn();
  off = await startOff();
}
const rows = [
  { name: 'plain, metrics on (default)', t: on },
  { name: process.env.METRICS_AA ? 'plain, metrics on (second process)' : 'plain, metrics: { enabled: false }', t: off },
];
for (const r of rows) r.samples = [];
for (let round = 0; round < ROUNDS; round++) {
  console.log(`round ${round + 1}/${ROUNDS}`);
  // Alternate which goes first, so a neighbour's burst does not always land on the same row.
  for (const r of round % 2 ? [...rows].reverse() : rows) r.samples.push((await cpuPerRequest({ url: r.t.url, pids: r.t.pids }, { path: '/', requests: 20_000 })).cpuUsPerRequest);
}
await stopAll();

console.log('\nCPU µs per request of the gateway process (median of rounds; min–max)');
for (const r of rows) console.log(`  ${r.name.padEnd(40)} ${median(r.samples).toFixed(1).padStart(6)}  (${Math.min(...r.samples).toFixed(1)}–${Math.max(...r.samples).toFixed(1)})`);
const diffs = rows[0].samples.map((v, i) => v - rows[1].samples[i]);
console.log(`  difference per round (on − off): median ${median(diffs).toFixed(1)} µs; rounds ${diffs.map((d) => d.toFixed(1)).join(', ')}`);

// The counting alone: Traffic.record on access-log entries of one route (as the proxy calls it), this process.
const traffic = new Traffic();
const route = { upstream: {}, chain: [] };
const ex = { route, res: {}, routeName: 'plain', attempts: 1, consumer: undefined };
const entries = [200, 200, 200, 404, 200, 500, 200, 304].map((status) => ({ ex, requestId: 'x', method: 'GET', url: '/', status, startedAt: process.hrtime.bigint(), upstreamMs: 1.2, bytes: 1200 }));
const N = 2_000_000;
const run = () => {
  for (let i = 0; i < N; i++) traffic.record(entries[i & 7]);
};
run();
const t0 = performance.now();
run();
console.log(`\nThe counting alone (Traffic.record, this process): ${(((performance.now() - t0) * 1e6) / N).toFixed(0)} ns per request`);
