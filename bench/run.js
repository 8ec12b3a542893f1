// npm run bench: starts the upstream and every target in bench/scenarios.js, load-tests each at
// 50 connections, streams a 200 MB body through those that ask for it, prints a table and the goals.
// Env: BENCH_DURATION (s, default 10), BENCH_ONLY (comma-separated ids), BENCH_OUT (results file),
// BENCH_CPU_PROF=1 (CPU profiles of the Tollgate processes), BENCH_KEEP=1 (keep logs and temp files),
// BENCH_TOLLGATE_BIN (another tollgate.js to start instead of bin/tollgate.js), BENCH_ROUNDS (N > 1:
// all targets up at once, measured N times interleaved, medians reported; see docs/benchmarks.md).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  installCleanup, pinSelfToLoadCore, pinning, stopAll, stopProcess, workDir, tail,
} from './lib/procs.js';
import { CONNECTIONS, loadTool, measure } from './lib/load.js';
import { download } from './lib/download.js';
import { cpuProfileDir, startTollgate, startUpstream, ROOT } from './lib/targets.js';
import { nginxAvailable, NGINX_BIN } from './lib/nginx.js';
import { scenarios, BIG_MB } from './scenarios.js';

const SECONDS = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 1)) || 1);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const OUT = process.env.BENCH_OUT ?? path.join(os.tmpdir(), 'tollgate-bench', 'latest.json');
const BASELINES = ['direct', 'minimal', 'naive'];

/** Share of all CPU time spent busy over `ms`, from /proc/stat; null where there is no /proc. */
async function cpuBusy(ms = 1000) {
  const read = () => {
    try {
      const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b || b.total === a.total) return null;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

function startTarget(s, upstream) {
  if (s.config) return startTollgate(s.id, s.config, upstream, s.env);
  return s.start(upstream);
}

function countLines(file) {
  const buf = fs.readFileSync(file);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(a.length / 2);
  return a.length % 2 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
};

/** Starts a scenario's target; the returned job carries its row, and the samples of its load slices. */
async function startJob(s, upstream) {
  const row = { id: s.id, name: s.name, config: s.config ?? null, path: s.path ?? '/', compareTo: s.compareTo ?? null };
  try {
    return { s, row, target: await startTarget(s, upstream.url), samples: [] };
  } catch (err) {
    console.log(`  ${s.name}: SKIPPED: ${err.message}`);
    return { s, row: { ...row, skipped: err.message.split('\n')[0] } };
  }
}

function fail(job, err) {
  job.row.error = err.message;
  console.log(`FAILED: ${err.message}`);
  const logs = job.target.proc ? tail(job.target.proc.stderrPath) : '';
  if (logs) console.log(logs.replace(/^/gm, '    | '));
}

/** One load measurement of a job's target; only the first one of a target is preceded by a warm-up. */
async function loadSlice(job, label) {
  const { s, row, target, samples } = job;
  process.stdout.write(`  ${label}${s.name}: ${target.url}${row.path} … `);
  try {
    const load = await measure(target.url + row.path, { seconds: SECONDS, headers: s.headers, warmup: samples.length ? 0 : 2 });
    samples.push(load);
    const ok = load.non2xx === 0 && load.errors === 0 && load.requests > 0;
    console.log(`${Math.round(load.rps)} req/s${ok ? '' : `  (!) ${load.non2xx} non-2xx, ${load.errors} socket errors`}`);
  } catch (err) {
    fail(job, err);
  }
}

/** Row figures from a job's slices: median req/s, p50 and p99; counts summed over all slices. */
function summarize({ row, samples }) {
  const sum = (k) => samples.reduce((a, x) => a + x[k], 0);
  const rps = samples.map((x) => x.rps);
  Object.assign(row, {
    rps: median(rps), p50: median(samples.map((x) => x.p50)), p99: median(samples.map((x) => x.p99)),
    requests: sum('requests'), non2xx: sum('non2xx'), errors: sum('errors'),
  });
  row.ok = row.non2xx === 0 && row.errors === 0 && row.requests > 0;
  if (samples.length > 1) Object.assign(row, { rounds: samples, rpsMin: Math.min(...rps), rpsMax: Math.max(...rps) });
}

/** What runs once per target after its load slices: access-log count, download, `run`; then the stop. */
async function finishJob(job, upstream) {
  const { s, row, target } = job;
  // Interleaved, these lines no longer follow the target's own load line: name it.
  const label = ROUNDS > 1 ? `  ${s.name}: ` : '    ';
  try {
    if (row.error) return;
    summarize(job);
    if (target.accessLog) row.accessLogLines = countLines(target.accessLog);
    // The direct row is the shared upstream itself: its RSS is the upstream's.
    const pids = () => (target.shared ? upstream.pids : target.pids ?? []);
    if (s.download) {
      const big = target.url + s.download;
      try {
        // A small download first, so the measured one is not the first through a cold path.
        await download(target.url + s.download.replace(/mb=\d+/, 'mb=10'), { pids: pids() });
        row.download = await download(big, { pids: pids(), expectBytes: BIG_MB * 1024 * 1024 });
        const d = row.download;
        console.log(`${label}download ${Math.round(d.mib)} MiB: ${d.mibPerSec.toFixed(0)} MiB/s${d.rssGrowthMiB === null ? '' : `, peak RSS +${d.rssGrowthMiB.toFixed(1)} MiB`}`);
      } catch (err) {
        row.download = { error: err.message };
        console.log(`${label}download failed: ${err.message}`);
      }
    }
    if (s.run) {
      if (ROUNDS > 1) console.log(`  ${s.name}:`);
      row.extra = await s.run({ url: target.url, upstream: upstream.url, pids: pids(), proc: target.proc, seconds: SECONDS });
    }
  } catch (err) {
    fail(job, err);
  } finally {
    if (target.proc) await stopProcess(target.proc);
  }
}

/** BENCH_ROUNDS=1: each target started, measured, finished and stopped before the next one starts. */
async function runSequential(selected, upstream) {
  const rows = [];
  for (const s of selected) {
    const job = await startJob(s, upstream);
    if (job.target) {
      await loadSlice(job, '');
      await finishJob(job, upstream);
    }
    rows.push(job.row);
  }
  return rows;
}

/**
 * BENCH_ROUNDS=N: every target started at once, then N rounds that each measure every target in turn,
 * so a drift in CPU speed lands on all rows alike instead of on whichever ran during it.
 */
async function runInterleaved(selected, upstream) {
  const jobs = [];
  for (const s of selected) jobs.push(await startJob(s, upstream));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const job of jobs) if (job.target && !job.row.error) await loadSlice(job, `round ${round}/${ROUNDS}  `);
  }
  for (const job of jobs) if (job.target) await finishJob(job, upstream);
  return jobs.map((j) => j.row);
}

const fmt = {
  rps: (v) => (v === undefined ? '-' : Math.round(v).toLocaleString('en-US')),
  ms: (v) => (v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(2)} ms`),
  x: (v) => (v === undefined || Number.isNaN(v) || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`),
};

function printTable(rows) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const header = ['target', 'req/s', 'p50', 'p99', ...BASELINES.map((b) => `vs ${b}`), 'notes'];
  const lines = rows.map((r) => {
    if (r.skipped || r.error) return [r.name, '-', '-', '-', '-', '-', '-', r.skipped ? 'skipped' : 'failed'];
    const vs = BASELINES.map((b) => { const base = byId.get(b); return base?.rps ? fmt.x(r.rps / base.rps) : '-'; });
    const notes = [];
    if (!r.ok) notes.push(`${r.non2xx} non-2xx, ${r.errors} socket errors`);
    if (r.rounds) notes.push(`${fmt.rps(r.rpsMin)}–${fmt.rps(r.rpsMax)} req/s over ${r.rounds.length} rounds`);
    if (r.accessLogLines !== undefined) notes.push(`${r.accessLogLines.toLocaleString('en-US')} log lines`);
    return [r.name, fmt.rps(r.rps), fmt.ms(r.p50), fmt.ms(r.p99), ...vs, notes.join('; ')];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const show = (cells) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd();
  console.log(`\n${show(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const l of lines) console.log(show(l));

  for (const r of rows) {
    const base = r.compareTo && byId.get(r.compareTo);
    if (!base?.rps || !r.rps) continue;
    console.log(`${r.name} vs ${base.name}: ${fmt.x(r.rps / base.rps)} req/s, p99 ${r.p99 - base.p99 >= 0 ? '+' : ''}${(r.p99 - base.p99).toFixed(2)} ms`);
  }

  const dls = rows.filter((r) => r.download);
  if (dls.length) {
    console.log(`\n${BIG_MB} MB download (client discards bytes)`);
    for (const r of dls) {
      const d = r.download;
      console.log(d.error
        ? `  ${r.name.padEnd(widths[0])}  failed: ${d.error}`
        : `  ${r.name.padEnd(widths[0])}  ${d.mibPerSec.toFixed(0).padStart(5)} MiB/s  peak RSS ${d.rssGrowthMiB === null ? 'n/a' : `+${d.rssGrowthMiB.toFixed(1)} MiB`}`);
    }
  }
}

function evaluateGoals(rows, scenarioById) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const downloads = new Map(rows.filter((r) => r.download && !r.download.error).map((r) => [r.id, r.download]));
  const results = [];
  for (const r of rows) {
    const s = scenarioById.get(r.id);
    if (!s.goals && !s.downloadGoals) continue;
    if (r.skipped || r.error) {
      results.push({ target: r.name, goal: 'all goals', pass: null, detail: r.skipped ?? r.error });
      continue;
    }
    // A fast row of errors is not a fast proxy: failures void every load goal.
    for (const g of s.goals?.(r, byId) ?? []) results.push({ target: r.name, ...g, pass: g.pass && r.ok });
    if (s.downloadGoals && r.download && !r.download.error) {
      for (const g of s.downloadGoals(r.download, downloads)) results.push({ target: r.name, ...g });
    } else if (s.downloadGoals) {
      results.push({ target: r.name, goal: 'download', pass: false, detail: r.download?.error ?? 'not measured' });
    }
  }
  if (results.length) console.log('\nGoals');
  for (const g of results) {
    const verdict = g.pass === null ? 'SKIP' : g.pass ? 'PASS' : 'FAIL';
    const detail = typeof g.detail === 'number' ? g.detail.toFixed(2) : g.detail;
    console.log(`  ${verdict}  ${g.target}: ${g.goal} (${detail})`);
  }
  return results;
}

async function main() {
  installCleanup();
  pinSelfToLoadCore();
  const selected = scenarios.filter((s) => !ONLY || ONLY.has(s.id));
  console.log(ROUNDS > 1
    ? `tollgate bench: ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${SECONDS}s per target (2s warm-up before the first), medians reported, load by ${loadTool}`
    : `tollgate bench: ${CONNECTIONS} connections, ${SECONDS}s per target after a 2s warm-up, load by ${loadTool}`);
  if (loadTool !== 'wrk') console.log('  note: wrk not on PATH; autocannon (Node, one core) may saturate before the target does. Install Debian package wrk.');
  console.log(pinning
    ? '  pinning: upstream and server under test on core 0, load generator and this harness on core 1 (taskset)'
    : '  pinning: off (needs taskset and >= 2 cores); figures are not comparable with pinned runs');
  if (!nginxAvailable()) console.log(`  nginx: ${NGINX_BIN} not found, nginx reference skipped (Debian package nginx-light)`);
  console.log(`  node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, logs in ${workDir}`);
  // Other work on the machine skews every row, and not by the same amount: say so up front.
  const busy = await cpuBusy();
  if (busy !== null) {
    console.log(`  CPU busy before start: ${(busy * 100).toFixed(0)}%${busy > 0.1 ? '  (!) the machine is not idle; figures are unreliable' : ''}`);
  }
  console.log('');

  const upstream = await startUpstream();
  const rows = ROUNDS > 1 ? await runInterleaved(selected, upstream) : await runSequential(selected, upstream);
  await stopProcess(upstream.proc);

  printTable(rows);
  const goals = evaluateGoals(rows, new Map(scenarios.map((s) => [s.id, s])));

  const result = {
    date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, cores: os.availableParallelism(),
    loadTool, connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, pinned: !!pinning, cpuBusyBefore: busy, rows, goals,
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nresults: ${OUT}`);
  if (cpuProfileDir()) console.log(`cpu profiles: ${cpuProfileDir()} (open in Chrome DevTools > Performance)`);
  if (!process.env.BENCH_KEEP && !cpuProfileDir()) fs.rmSync(workDir, { recursive: true, force: true });
  else console.log(`kept: ${path.relative(ROOT, workDir) || workDir}`);
}

main().catch(async (err) => {
  console.error(`bench failed: ${err.stack ?? err}`);
  await stopAll();
  process.exit(1);
});
