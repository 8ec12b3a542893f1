// Load generation: wrk when installed (a Node load generator on one core saturates before the
// server under test does), autocannon otherwise.
import { execFileSync, spawn } from 'node:child_process';
import { pinning, track } from './procs.js';

export const CONNECTIONS = 50;

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const loadTool = onPath('wrk') ? 'wrk' : 'autocannon';

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
}

/** Parses wrk's --latency report. Exported for the tests of the harness itself. */
function parseWrk(out) {
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : 0; };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    p99: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    requests: num(/(\d+) requests in/),
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/),
    errors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

function runWrk(url, seconds, headers) {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const argv = [...(pinning?.load ?? []), 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', ...h, url];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    track('wrk', child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    // wrk stops by itself; the timer only guards against a wedged run.
    const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      resolve(parseWrk(out));
    });
  });
}

async function runAutocannon(url, seconds, headers) {
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

/** Warms the target up, then measures it for `seconds`. */
export async function measure(url, { seconds, warmup = 2, headers = {} }) {
  const run = loadTool === 'wrk' ? runWrk : runAutocannon;
  if (warmup > 0) await run(url, warmup, headers);
  return run(url, seconds, headers);
}
