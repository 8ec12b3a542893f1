// Targets for the data-resource rows: a sprockets table in SQLite or Postgres, filled with
// `tollgate load-data` before the gateway starts, and a write-then-read check across two instances.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { fetch } from 'undici';
import { stopProcess, workDir } from './procs.js';
import { ROOT, startTollgate } from './targets.js';

const CONFIG = 'bench/configs/resources.yaml';
const RECORDS = 1000;
const PG_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function dataFile() {
  const file = path.join(workDir, 'sprockets.json');
  if (!fs.existsSync(file)) {
    const rows = Array.from({ length: RECORDS }, (_, i) => ({ id: i + 1, teeth: 5 + (i % 40), pitch_diameter: 5 + (i % 13), outside_diameter: 6 + (i % 17), pitch: 1 + (i % 7) }));
    fs.writeFileSync(file, JSON.stringify(rows));
  }
  return file;
}

async function storeUrl(name, dialect) {
  if (dialect === 'sqlite') return `sqlite:${path.join(workDir, `${name}.db`)}`;
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`Postgres not reachable at ${PG_URL} (${err.message}; set BENCH_POSTGRES_URL): ${name} skipped`);
  } finally {
    await c.end().catch(() => {});
  }
  // One schema per row, reused by later runs (load-data leaves an equal table unchanged): nothing piles up.
  return `${PG_URL}?schema=bench_${name.replace(/\W/g, '_')}`;
}

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Store URL and environment of each started target, by its URL (for writeThenRead's second instance). */
const started = new Map();

/** A gateway serving the loaded sprockets from `dialect` ('sqlite' | 'postgres'); `shared`: cache in Redis. */
export async function startResources(name, upstream, dialect, shared = false) {
  const store = await storeUrl(name, dialect);
  execFileSync(process.execPath, [path.join(ROOT, 'bin/tollgate.js'), 'load-data', 'sprockets', dataFile(), '-c', path.join(ROOT, CONFIG)], {
    env: { ...process.env, RES_STORE: store },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const env = { RES_STORE: store, ...(shared ? { RES_REDIS: REDIS_URL, RES_CACHE_STORE: 'redis' } : {}) };
  const target = await startTollgate(name, CONFIG, upstream, env);
  started.set(target.url, { name, env });
  return target;
}

/**
 * `pairs` times: PATCH a record on one instance, then GET it and the list page from the other (cached there
 * before the write). The two instances share the Postgres schema and cache in one Redis (`BENCH_REDIS_URL`,
 * default redis://127.0.0.1:6379). The second instance stops when the pairs are done.
 */
export async function writeThenRead(ctx, pairs = 1000) {
  const first = started.get(ctx.url);
  const second = await startTollgate(`${first.name}-b`, CONFIG, ctx.upstream, first.env);
  const urls = [ctx.url, second.url];
  let stale = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= pairs; i++) {
    const [w, r] = i % 2 ? urls : [urls[1], urls[0]];
    await (await fetch(`${r}/cached/sprocket/1`)).text();
    const res = await fetch(`${w}/cached/sprocket/1`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ teeth: i }) });
    await res.text();
    const one = await (await fetch(`${r}/cached/sprocket/1`)).json();
    if (one.teeth !== i) stale++;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await stopProcess(second.proc);
  return { pairs, stale, pairsPerSec: pairs / (ms / 1000) };
}
