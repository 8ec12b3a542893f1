// Child processes for the bench: pinned, logged to files, always cleaned up.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';

const LISTEN_RE = /listening on (https?:\/\/[^\s"',]+)/;
const children = new Set();
let stopping = false;

export const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));

function hasTaskset() {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pinning as the issue asks: servers on core 0, the load generator (and this process) on core 1. */
export const pinning = hasTaskset() && os.availableParallelism() >= 2
  ? { server: ['taskset', '-c', '0'], load: ['taskset', '-c', '1'] }
  : null;

export function pinSelfToLoadCore() {
  if (!pinning) return;
  // -a: every thread of this process, so autocannon and the download client stay off core 0.
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
}

/** Spawns `argv`, pinned to the server core, with stdout and stderr going to files (never piped). */
export function startProcess(name, argv, { env = {}, pin = true } = {}) {
  if (stopping) throw new Error(`not starting ${name}: the bench is stopping`);
  const full = pin && pinning ? [...pinning.server, ...argv] : argv;
  const stdoutPath = path.join(workDir, `${name}.out`);
  const stderrPath = path.join(workDir, `${name}.err`);
  const out = fs.openSync(stdoutPath, 'w');
  const err = fs.openSync(stderrPath, 'w');
  const child = spawn(full[0], full.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, err],
  });
  fs.closeSync(out);
  fs.closeSync(err);
  return track(name, child, { stdoutPath, stderrPath });
}

/** Registers a child so that it is stopped when the bench ends, however it ends. */
export function track(name, child, paths = {}) {
  const proc = { name, child, pid: child.pid, ...paths, exited: null };
  proc.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => { proc.exited = { code, signal }; children.delete(proc); resolve(proc.exited); });
    child.on('error', (error) => { proc.exited = { code: null, signal: null, error }; children.delete(proc); resolve(proc.exited); });
  });
  children.add(proc);
  return proc;
}

export function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function describeExit(proc) {
  const { code, signal, error } = proc.exited;
  const why = error ? error.message : `exited with ${signal ?? `code ${code}`}`;
  const logs = [tail(proc.stderrPath), tail(proc.stdoutPath)].filter(Boolean).join('\n');
  return `${proc.name} ${why}${logs ? `\n${logs.replace(/^/gm, '    | ')}` : ''}`;
}

/**
 * Polls the child's stdout file for the `listening on http://HOST:PORT` line; admin listeners are
 * skipped so Tollgate's proxy address is the one found. Rejects if the child exits first.
 */
export async function waitForListening(proc, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = fs.readFileSync(proc.stdoutPath, 'utf8');
    for (const line of text.split('\n')) {
      const m = LISTEN_RE.exec(line);
      if (m && !/admin/i.test(line)) return loopback(m[1]);
    }
    if (proc.exited) throw new Error(describeExit(proc));
    await sleep(50);
  }
  throw new Error(`${proc.name} printed no "listening on" line within ${timeoutMs} ms\n${tail(proc.stderrPath)}`);
}

/** Waits until a TCP port accepts connections (for servers that print nothing, like nginx). */
export async function waitForPort(proc, port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) throw new Error(describeExit(proc));
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${proc.name} did not accept connections on port ${port} within ${timeoutMs} ms`);
}

function loopback(url) {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]' || u.hostname === 'localhost') u.hostname = '127.0.0.1';
  return u.origin;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** SIGTERM (graceful: Tollgate drains, nginx's master takes its worker down), then SIGKILL. */
export async function stopProcess(proc, graceMs = 3000) {
  if (!proc || proc.exited) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => { if (!proc.exited) proc.child.kill('SIGKILL'); }, graceMs);
  await proc.exitPromise;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...children].map((p) => stopProcess(p)));
}

/** Last resort when the process is going down synchronously: no waiting is possible here. */
function killAllNow() {
  for (const p of children) {
    try { p.child.kill('SIGTERM'); } catch { /* already gone */ }
  }
}

export function installCleanup() {
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      console.error(`\n${sig}: stopping ${children.size} child process(es)…`);
      stopAll().finally(() => {
        if (!process.env.BENCH_KEEP) fs.rmSync(workDir, { recursive: true, force: true });
        process.exit(130);
      });
    });
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
