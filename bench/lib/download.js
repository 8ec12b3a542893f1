// Streams a large body through a target, discarding the bytes, while sampling the server's RSS.
import fs from 'node:fs';
import { request } from 'undici';

const MIB = 1024 * 1024;
const SAMPLE_MS = 50;

/** Resident set size in bytes of `pid` (and its children for nginx: pass every pid). */
function rssOf(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // Process gone or /proc missing: RSS is reported as unknown below.
    }
  }
  return total;
}

/** nginx serves from its worker, not the master: measure the master plus its children. */
export function withChildren(pid) {
  try {
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return [pid, ...kids.map(Number)];
  } catch {
    return [pid];
  }
}

export async function download(url, { pids, expectBytes, timeoutMs = 120_000 }) {
  const before = rssOf(pids);
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, rssOf(pids)); }, SAMPLE_MS);
  const started = process.hrtime.bigint();
  let bytes = 0;
  const ac = new AbortController();
  const guard = setTimeout(() => ac.abort(new Error(`download took over ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await request(url, { signal: ac.signal, headersTimeout: 30_000, bodyTimeout: 30_000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`status ${res.statusCode}`);
    }
    for await (const chunk of res.body) bytes += chunk.length;
  } finally {
    clearInterval(timer);
    clearTimeout(guard);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  peak = Math.max(peak, rssOf(pids));
  if (expectBytes !== undefined && bytes !== expectBytes) throw new Error(`got ${bytes} bytes, expected ${expectBytes}`);
  return {
    mib: bytes / MIB,
    seconds,
    mibPerSec: bytes / MIB / seconds,
    rssBeforeMiB: before ? before / MIB : null,
    rssGrowthMiB: before ? (peak - before) / MIB : null,
  };
}
