// What response scrubbing costs, measured as CPU time per request of the gateway process (steadier than
// req/s on a shared machine): a plain route, a credentials route (bodies scanned) and the same with
// scrubResponseBody: false, for 1 KB and 100 KB JSON bodies, in interleaved rounds with medians reported.
// Then the scanner alone, in this process. Run after `npm run build`:
//   node bench/scrub-cost.js            (SCRUB_ROUNDS, default 5)
// SCRUB_BASELINE_BIN=/path/to/old/bin/tollgate.js adds the credentials route served by another build (one
// from before response scrubbing), for the cost of scrubbing itself rather than of the whole policy.
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import { SecretScrubber } from '../dist/policies/shared/secret-scrub.js';
import { cpuPerRequest } from './lib/cpu.js';
import fs from 'node:fs';
import path from 'node:path';
import { installCleanup, pinSelfToLoadCore, startProcess, stopAll, waitForListening, workDir } from './lib/procs.js';
import { startTollgate, startUpstream } from './lib/targets.js';

const ROUNDS = Number(process.env.SCRUB_ROUNDS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

installCleanup();
pinSelfToLoadCore();
const upstream = await startUpstream();
const plain = await startTollgate('plain', 'bench/configs/plain.yaml', upstream.url);
const creds = await startTollgate('credentials', 'bench/configs/credentials.yaml', upstream.url);
let baseline;
if (process.env.SCRUB_BASELINE_BIN) {
  // Only the credentials route: an older build does not know scrubResponseBody.
  const config = path.join(workDir, 'credentials-baseline.yaml');
  fs.writeFileSync(config, fs.readFileSync('bench/configs/credentials.yaml', 'utf8').replace(/ {2}- name: credentials-noscrub[\s\S]*?(?= {2}- name: credentials\n)/, ''));
  const proc = startProcess('baseline', [process.execPath, path.resolve(process.env.SCRUB_BASELINE_BIN), 'start', '-c', config, '--port', '0', '--host', '127.0.0.1'], { env: { UPSTREAM_URL: upstream.url } });
  baseline = { url: await waitForListening(proc), pids: [proc.pid] };
}
const rows = [
  { name: 'plain, 1 KB', t: plain, path: '/', requests: 20_000 },
  { name: 'credentials, 1 KB', t: creds, path: '/', requests: 20_000 },
  { name: 'credentials, scrubResponseBody: false, 1 KB', t: creds, path: '/noscrub/', requests: 20_000 },
  ...(baseline ? [{ name: 'credentials, before scrubbing (baseline build), 1 KB', t: baseline, path: '/', requests: 20_000 }] : []),
  { name: 'plain, 100 KB JSON', t: plain, path: '/json100k', requests: 4_000 },
  { name: 'credentials, 100 KB JSON', t: creds, path: '/json100k', requests: 4_000 },
  { name: 'credentials, scrubResponseBody: false, 100 KB JSON', t: creds, path: '/noscrub/json100k', requests: 4_000 },
  ...(baseline ? [{ name: 'credentials, before scrubbing (baseline build), 100 KB JSON', t: baseline, path: '/json100k', requests: 4_000 }] : []),
];
for (const r of rows) r.samples = [];
for (let round = 0; round < ROUNDS; round++) {
  console.log(`round ${round + 1}/${ROUNDS}`);
  for (const r of rows) r.samples.push((await cpuPerRequest({ url: r.t.url, pids: r.t.pids }, { path: r.path, requests: r.requests })).cpuUsPerRequest);
}
await stopAll();

console.log('\nCPU µs per request of the gateway process (median of rounds; min–max)');
for (const r of rows) console.log(`  ${r.name.padEnd(52)} ${median(r.samples).toFixed(0).padStart(5)}  (${Math.min(...r.samples).toFixed(0)}–${Math.max(...r.samples).toFixed(0)})`);

// The scanner alone: two secrets as in bench/configs/credentials.yaml, bodies in 16 KiB chunks.
const s = new SecretScrubber(['bench-upstream-secret-0123456789abcdef', 'bench-query-key-0123456789']);
console.log('\nThe scanner alone (this process), µs per body');
for (const size of [1024, 100 * 1024]) {
  const body = Buffer.alloc(size, '{"url":"http://127.0.0.1:8080/items/1","title":"Item"},');
  const chunks = [];
  for (let i = 0; i < size; i += 16384) chunks.push(body.subarray(i, i + 16384));
  const n = size > 10_000 ? 5_000 : 50_000;
  const run = () => {
    for (let k = 0; k < n; k++) {
      const src = new PassThrough();
      s.scrub(src).on('data', () => undefined);
      for (const c of chunks) src.write(c);
      src.end();
    }
  };
  run();
  let t0 = performance.now();
  run();
  const stream = ((performance.now() - t0) * 1000) / n;
  t0 = performance.now();
  for (let k = 0; k < n; k++) for (const c of chunks) s.maskBuffer(c);
  const scan = ((performance.now() - t0) * 1000) / n;
  console.log(`  ${String(size / 1024).padStart(3)} KB: scan ${scan.toFixed(1)} µs, through the stream ${stream.toFixed(1)} µs`);
}
