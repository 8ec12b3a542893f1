// How each kind of target is started. Every start() resolves to { url, proc, pids } or throws
// an Error whose message says why the target is skipped.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, waitForListening, workDir } from './procs.js';
import { nginxAvailable, startNginx, NGINX_BIN } from './nginx.js';
import { withChildren } from './download.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// BENCH_TOLLGATE_BIN: measure another build (say, the previous commit's checkout) in the same run.
const TOLLGATE_BIN = path.resolve(ROOT, process.env.BENCH_TOLLGATE_BIN ?? 'bin/tollgate.js');
const profDir = process.env.BENCH_CPU_PROF ? path.join(workDir, 'cpu-profiles') : null;

async function startNode(name, script, args, env = {}, nodeFlags = [], pin = true) {
  const proc = startProcess(name, [process.execPath, ...nodeFlags, script, ...args], { env, pin });
  const url = await waitForListening(proc);
  return { url, proc, pids: [proc.pid] };
}

export function startUpstream() {
  return startNode('upstream', path.join(ROOT, 'bench/upstream.js'), []);
}

export function startMinimal(upstream) {
  return startNode('minimal', path.join(ROOT, 'bench/minimal-forwarder.js'), [upstream]);
}

export function startNaive(upstream) {
  return startNode('naive', path.join(ROOT, 'bench/naive-forwarder.js'), [upstream]);
}

export async function startNginxTarget(name, upstream, extra) {
  if (!nginxAvailable()) throw new Error(`${NGINX_BIN} not found (Debian package nginx-light): nginx skipped`);
  const { proc, url } = await startNginx(name, upstream, extra);
  return { url, proc, get pids() { return withChildren(proc.pid); } };
}

/**
 * Tollgate from the compiled CLI; its stdout (the JSON access log) goes to a file. `workers` > 1 starts a
 * primary and its workers, unpinned (on every core): pids then lists them all.
 */
export async function startTollgate(name, config, upstream, env = {}, { workers = 1 } = {}) {
  if (!fs.existsSync(TOLLGATE_BIN)) throw new Error(`${path.relative(ROOT, TOLLGATE_BIN)} does not exist yet: ${name} skipped`);
  const nodeFlags = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const args = ['start', '-c', path.resolve(ROOT, config), '--port', '0', '--host', '127.0.0.1', ...(workers > 1 ? ['--workers', String(workers)] : [])];
  const started = await startNode(name, TOLLGATE_BIN, args, { UPSTREAM_URL: upstream, ...env }, nodeFlags, workers === 1);
  if (workers === 1) return { ...started, accessLog: started.proc.stdoutPath };
  return { ...started, accessLog: started.proc.stdoutPath, get pids() { return withChildren(started.proc.pid); } };
}

export function cpuProfileDir() {
  return profDir;
}
