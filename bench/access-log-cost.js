// CPU per access-log line of a build (all threads: process.cpuUsage, so the thread pool's writes count): its own
// createLogger + createAccessLog writing N entries, 50 per event-loop turn, to a file; the cost of making the
// entries is measured alone and subtracted. Usage: node bench/access-log-cost.js [root of a built checkout] [N]
// (alternate two roots, e.g. this checkout and a `git archive` of main built with `npx tsc -p tsconfig.build.json`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const root = path.resolve(process.argv[2] ?? '.');
const N = Number(process.argv[3] ?? 200000);
const out = path.join(os.tmpdir(), `tollgate-access-log-cost-${process.pid}.log`);
const fd = fs.openSync(out, 'w');
const { createLogger } = await import(`${root}/dist/log.js`);
const { createAccessLog } = await import(`${root}/dist/proxy/access-log.js`);
const { log } = createLogger('info', 'json', fd);
const snap = { redactUrl: (u) => u, redactText: (t) => t };
const al = createAccessLog(log, () => snap);
const ex = { routeName: 'cached', clientIp: '127.0.0.1', snap };
let i = 0;
const entry = () => ({ ex, requestId: '3f1c2a9e-8d7b-4c6a-9e5f-0123456789ab', method: 'GET', url: `/cached?page=${i}`, status: 200, startedAt: process.hrtime.bigint() - 120000n, upstreamMs: undefined, bytes: 1350 });
const run = (n) => new Promise((resolve) => { let left = n; (function turn() { for (let k = 0; k < 50 && left > 0; k++, left--, i++) al.write(entry()); if (left > 0) setImmediate(turn); else resolve(); })(); });
const baseline = (n) => new Promise((resolve) => { let left = n; let x = 0; (function turn() { for (let k = 0; k < 50 && left > 0; k++, left--, i++) x += entry().bytes; if (left > 0) setImmediate(turn); else resolve(x); })(); });
await run(20000);
const b0 = process.cpuUsage(); await baseline(N); const bc = process.cpuUsage(b0);
const c0 = process.cpuUsage(); await run(N); al.flush(); await new Promise((r) => setTimeout(r, 700)); const c = process.cpuUsage(c0);
const per = (c.user + c.system - (bc.user + bc.system)) / N;
console.log(`${root}: ${per.toFixed(2)} µs CPU per line (entry creation and loop subtracted)`);
fs.rmSync(out, { force: true });
