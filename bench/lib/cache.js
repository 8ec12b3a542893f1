// Measurements for the cache scenarios that are not a load test: coalescing and a disk-served big entry.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { download } from './download.js';
import { workDir } from './procs.js';

const COALESCE_CLIENTS = 100;
const SLOW_MS = 200;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// undici request() on one keep-alive agent: far less client overhead per request than fetch().
const agent = new Agent({ connections: 256, pipelining: 1 });

async function get(url) {
  const res = await request(url, { dispatcher: agent });
  await res.body.arrayBuffer();
  return { status: res.statusCode };
}

async function upstreamRequests(upstream) {
  const res = await request(`${upstream}/__stats`, { dispatcher: agent });
  return (await res.body.json()).requests;
}

/** Max time of `n` concurrent GETs started together, each on its own key. */
async function burst(n, urlFor) {
  const t0 = performance.now();
  const times = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const res = await get(urlFor(i));
      if (res.status !== 200) throw new Error(`coalesce: status ${res.status}`);
      return performance.now() - t0;
    }),
  );
  return times;
}

/**
 * 100 concurrent misses for one slow URL: how many reach the upstream, and how long each waiter takes
 * compared with the upstream's own time for that URL (fetched directly, on a warm connection).
 */
export async function coalesce({ url, upstream }) {
  // Warm connections to both, so the bursts measure waiting, not TCP handshakes.
  await Promise.all(Array.from({ length: COALESCE_CLIENTS }, () => get(`${url}/cached`)));
  await Promise.all(Array.from({ length: COALESCE_CLIENTS }, () => get(`${upstream}/`)));
  const own = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await get(`${upstream}/slow?ms=${SLOW_MS}&id=direct-${Date.now()}-${i}`);
    own.push(performance.now() - t0);
  }
  const upstreamMs = median(own);
  // The same client, 100 concurrent requests straight to the upstream (100 keys): what the client
  // itself adds at this concurrency.
  const directBurst = await burst(COALESCE_CLIENTS, (i) => `${upstream}/slow?ms=${SLOW_MS}&id=direct-burst-${Date.now()}-${i}`);
  const before = await upstreamRequests(upstream);
  const id = `burst-${Date.now()}`;
  const times = await burst(COALESCE_CLIENTS, () => `${url}/slow?ms=${SLOW_MS}&id=${id}`);
  // Minus one: the /__stats request counts itself.
  const upstreamHits = (await upstreamRequests(upstream)) - before - 1;
  const waiterMaxMs = Math.max(...times);
  const directBurstMaxMs = Math.max(...directBurst);
  const out = {
    clients: COALESCE_CLIENTS,
    upstreamHits,
    upstreamMs,
    directBurstMaxMs,
    waiterP50Ms: median(times),
    waiterMaxMs,
    waiterVsUpstream: waiterMaxMs / upstreamMs,
    waiterVsDirectBurst: waiterMaxMs / directBurstMaxMs,
  };
  console.log(
    `    coalesce: ${COALESCE_CLIENTS} concurrent misses -> ${upstreamHits} upstream request(s); upstream alone ${upstreamMs.toFixed(0)} ms, ` +
      `${COALESCE_CLIENTS} direct at once max ${directBurstMaxMs.toFixed(0)} ms; waiters p50 ${out.waiterP50Ms.toFixed(0)} ms, max ${waiterMaxMs.toFixed(0)} ms ` +
      `(${out.waiterVsUpstream.toFixed(2)}x upstream alone, ${out.waiterVsDirectBurst.toFixed(2)}x direct burst)`,
  );
  return out;
}

/** A 200 MB entry: filled through the cache (miss), then served from disk (hit). */
export async function diskBig({ url, pids }, mb) {
  const big = `${url}/big?mb=${mb}&k=${Date.now()}`;
  const expectBytes = mb * 1024 * 1024;
  const fill = await download(big, { pids, expectBytes });
  // The entry is committed (renamed into place) just after the last byte: wait until a HEAD hits.
  for (let i = 0; i < 300; i++) {
    const res = await request(big, { method: 'HEAD', dispatcher: agent });
    await res.body.dump();
    if (res.headers['x-cache'] === 'HIT') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const hit = await download(big, { pids, expectBytes });
  console.log(`    disk: fill ${fill.mibPerSec.toFixed(0)} MiB/s (peak RSS +${fill.rssGrowthMiB?.toFixed(1)} MiB), served from disk ${hit.mibPerSec.toFixed(0)} MiB/s (peak RSS +${hit.rssGrowthMiB?.toFixed(1)} MiB)`);
  return { fill, hit };
}

/** A fresh directory for a scenario's cache, inside the bench's temp folder. */
export function cacheDir(name) {
  const dir = path.join(workDir, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
