// CPU time the server under test spends per request: its utime + stime from /proc (all threads, so GC and
// libuv's pool count) over a fixed number of requests, divided by that number. Unlike req/s this does not
// depend on how fast the load generator is, and it is less sensitive to other work on the machine (a
// neighbour slows a process down, it does not make it burn more CPU per request).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

const CONCURRENCY = 50;
let ticksPerSec = 100;
try {
  ticksPerSec = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // Linux's usual value.
}

function ticksOf(pid) {
  try {
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime
  } catch {
    return NaN; // no /proc (not Linux) or the process is gone
  }
}


/** `requests` GETs of `path` (50 at a time, keep-alive); returns CPU µs per request of `pids`. */
export async function cpuPerRequest({ url, pids }, { path = '/', requests = 20_000, headers = {} } = {}) {
  const pool = new Pool(url, { connections: CONCURRENCY });
  const one = async () => {
    const r = await pool.request({ path, method: 'GET', headers });
    for await (const _ of r.body) {
      // drain
    }
    if (r.statusCode >= 300) throw new Error(`${path}: status ${r.statusCode}`);
  };
  // Warm up (JIT, connections), then measure.
  let left = 2_000;
  const worker = async () => {
    while (left-- > 0) await one();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const before = pids.map(ticksOf);
  const t0 = performance.now();
  left = requests;
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wallMs = performance.now() - t0;
  const each = pids.map((pid, i) => ticksOf(pid) - before[i]);
  const used = each.reduce((a, b) => a + b, 0);
  await pool.close();
  const us = (ticks) => (ticks / ticksPerSec / requests) * 1e6;
  const cpuUsPerRequest = us(used);
  // Several processes (a primary and its workers, nginx's master and workers): each one's share as well.
  const perProcess = pids.length > 1 ? pids.map((pid, i) => ({ pid, cpuUsPerRequest: us(each[i]) })) : undefined;
  const split = perProcess ? ` (per process: ${perProcess.map((p) => p.cpuUsPerRequest.toFixed(1)).join(' + ')})` : '';
  console.log(`    cpu: ${Number.isNaN(cpuUsPerRequest) ? 'n/a' : `${cpuUsPerRequest.toFixed(1)} µs`} per request${split} over ${requests.toLocaleString('en-US')} requests of ${path} (${(wallMs / 1000).toFixed(1)} s wall, ${CONCURRENCY} at a time)`);
  return { requests, cpuUsPerRequest, wallMs, ...(perProcess ? { perProcess } : {}) };
}
