/* global fetch */
// authrep.xml calls per second with a warm application: starts Tollgate (dist, via bin/tollgate.js) with
// the 3scale API and one application whose plan never refuses (limits high enough), warms the consumer
// cache, then load-tests GET /transactions/authrep.xml with autocannon.
//   npm run build && node bench/threescale-authrep.js
// Env: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (default 50), BENCH_REDIS (a redis:// URL to
// count in Redis instead of in process).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PORT = 18000 + Math.floor(Math.random() * 1000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-3scale-'));
const config = path.join(dir, 'bench.yaml');
fs.writeFileSync(
  config,
  `listen: { port: ${PORT}, host: 127.0.0.1 }
admin: { enabled: false }
log: { level: warn, accessLog: false }
store: "sqlite:${path.join(dir, 'bench.db')}"
redis: "${process.env.BENCH_REDIS ?? ''}"
limits: { namespace: "tollgate-bench-3scale-${process.pid}:" }
threescale: { enabled: true }
services:
  "2555417777777": { token: "bench-service-token" }
plans:
  big: { name: Big, service: "2555417777777", limits: { hits: [{ per: minute, max: 1000000000 }, { per: day, max: 1000000000 }] } }
applications:
  - { id: bench-app, plan: big, service: "2555417777777", appKeys: ["bench-app-key"] }
`,
);

const child = spawn(process.execPath, [path.join(ROOT, 'bin/tollgate.js'), 'start', '-c', config], { stdio: ['ignore', 'inherit', 'inherit'] });
const url = `http://127.0.0.1:${PORT}/transactions/authrep.xml?service_token=bench-service-token&service_id=2555417777777&app_id=bench-app&app_key=bench-app-key&usage%5Bhits%5D=1`;

async function ready() {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('tollgate did not answer authrep with 200');
}

try {
  await ready();
  // Warm: the app, its key, the plan and the service token are cached after the first calls.
  for (let i = 0; i < 200; i++) await fetch(url);
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
  const non200 = result.non2xx + result.errors;
  console.log(
    JSON.stringify(
      {
        target: 'authrep.xml (warm app, ' + (process.env.BENCH_REDIS ? 'Redis limiter' : 'in-process limiter') + ')',
        connections: CONNECTIONS,
        seconds: SECONDS,
        requestsPerSecond: Math.round(result.requests.average),
        latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
        non200,
        cpus: os.cpus().length,
      },
      null,
      2,
    ),
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
}
