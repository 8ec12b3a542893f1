/**
 * A Redis outage under load: the gateway's Redis (the cache store, or the limiter store) is SIGKILLed while
 * requests keep coming at 20 per second, stays down for a few seconds, and comes back on the same port.
 * Every request must end within a generous bound with a correct answer (200 from the upstream, or the
 * catalogue's 503 when the route asks limits to fail closed), and once Redis is back everything recovers by
 * itself: the cache stores and hits again, including on the URLs whose fills were in flight when Redis died,
 * and limits count again.
 *
 * Each test starts its own redis-server on a free port (redis-server on PATH; skipped with a message when
 * missing, failed under CI=true).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { TIMEOUTS_BEFORE_BACKOFF } from '../../src/redis-client.js';
import { sleep, tempDir } from '../helpers/cache.js';
import { closeAll, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { RedisProcess, redisServerBinary } from '../helpers/redis-process.js';
import { startUpstream, track } from '../helpers/upstream.js';
import type { Answer } from '../helpers/upstream.js';

const bin = redisServerBinary();

/** No request may take longer than this, whatever Redis does (the client would otherwise give up at 5 s). */
const BOUND_MS = 2_000;
/** The test's own give-up time, so a hung request is recorded instead of stalling the test. */
const CLIENT_GIVE_UP_MS = 5_000;
const INTERVAL_MS = 50; // 20 requests per second

interface Result {
  path: string;
  phase: 'before' | 'down' | 'after';
  ms: number;
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  error?: string;
}

async function get(gw: TestGateway, path: string, headers: Record<string, string> = {}): Promise<Omit<Result, 'phase'>> {
  const t0 = performance.now();
  try {
    const r = await request(gw.url + path, { headers, signal: AbortSignal.timeout(CLIENT_GIVE_UP_MS) });
    const body = await r.body.text();
    return { path, ms: performance.now() - t0, status: r.statusCode, body, headers: r.headers };
  } catch (err) {
    return { path, ms: performance.now() - t0, status: 0, body: '', headers: {}, error: (err as Error).message };
  }
}

type Outage = 'kill' | 'freeze';

/**
 * Runs a steady load (one request every 50 ms, paths in turn) while `redis` is killed (or frozen: SIGSTOP,
 * a Redis that keeps its connections but answers nothing) after `beforeMs`, kept down `downMs`, restarted
 * (or thawed), and the load goes on for `afterMs`. Resolves with every result.
 */
async function outageUnderLoad(gw: TestGateway, redis: RedisProcess, paths: string[], timing: { beforeMs: number; downMs: number; afterMs: number }, outage: Outage = 'kill'): Promise<Result[]> {
  let phase: Result['phase'] = 'before';
  const pending: Promise<Result>[] = [];
  let i = 0;
  const timer = setInterval(() => {
    const p = phase;
    pending.push(get(gw, paths[i++ % paths.length]).then((r) => ({ ...r, phase: p })));
  }, INTERVAL_MS);
  try {
    await sleep(timing.beforeMs);
    if (outage === 'kill') await redis.kill();
    else redis.freeze();
    phase = 'down';
    await sleep(timing.downMs);
    if (outage === 'kill') await redis.start();
    else redis.thaw();
    phase = 'after';
    await sleep(timing.afterMs);
  } finally {
    clearInterval(timer);
  }
  return Promise.all(pending);
}

function summary(results: Result[]): string {
  const slow = results.filter((r) => r.ms > BOUND_MS || r.error);
  return slow
    .slice(0, 10)
    .map((r) => `${r.phase} ${r.path} ${r.status} ${Math.round(r.ms)}ms ${r.error ?? ''}`)
    .join('\n');
}

afterEach(closeAll);

describe.skipIf(!bin)('a Redis outage under load', () => {
  async function privateRedis(): Promise<RedisProcess> {
    return track(await RedisProcess.start(bin!));
  }

  /** An upstream that answers every path with its own path, after `delayMs` (so fills are in flight when Redis dies). */
  function slowEcho(delayMs: number, cacheControl = 'max-age=1'): Answer {
    return (req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': cacheControl });
        res.end(`body of ${req.url}`);
      }, delayMs);
    };
  }

  it.each(['kill', 'freeze'] as const)('cache on store redis, Redis %s: no request hangs, answers come from the upstream while Redis is away, and the cache (in-flight URLs included) works again after', async (outage) => {
    const redis = await privateRedis();
    const up = await startUpstream(slowEcho(300));
    const dir = await tempDir();
    const gw = await startTestGateway(`
redis: "${redis.url}"
upstreams: { app: { url: "${up.url}" } }
routes:
  - match: { prefix: / }
    upstream: app
    policies: [{ cache: { store: redis, dir: "${dir}" } }]
`, { logs: true });
    const paths = Array.from({ length: 8 }, (_, n) => `/u/${n}`);
    const results = await outageUnderLoad(gw, redis, paths, { beforeMs: 1_500, downMs: 3_000, afterMs: 1_500 }, outage);

    expect(summary(results), 'requests slower than the bound or failed').toBe('');
    for (const r of results) {
      expect(r.status, `${r.phase} ${r.path}`).toBe(200);
      expect(r.body).toBe(`body of ${r.path}`);
    }
    // While Redis was away the cache was bypassed, and said why.
    const down = results.filter((r) => r.phase === 'down');
    const bypassed = results.filter((r) => String(r.headers['cache-status']).includes('detail=store-unavailable'));
    expect(bypassed.length, 'answers saying the store is unavailable').toBeGreaterThan(0);
    expect(down.filter((r) => r.headers['x-cache'] === 'HIT'), 'hits while Redis was away').toEqual([]);
    expect(gw.logs.some((l) => l.level === 40 && String(l.msg).startsWith('cache store unavailable'))).toBe(true);

    // Recovery: every URL (those whose fills were in flight at the kill included) is stored and hit again.
    for (const path of paths) {
      let hit = false;
      const until = Date.now() + 5_000;
      while (!hit && Date.now() < until) {
        const r = await get(gw, path);
        expect(r.error, path).toBeUndefined();
        expect(r.ms, path).toBeLessThan(BOUND_MS);
        expect(r.status).toBe(200);
        expect(r.body).toBe(`body of ${path}`);
        hit = r.headers['x-cache'] === 'HIT';
        if (!hit) await sleep(50);
      }
      expect(hit, `${path} is served from the cache again`).toBe(true);
    }
  });

  it.each(['kill', 'freeze'] as const)('limiter store in redis, failOpen (default), Redis %s: requests go through within the bound, a warning is logged, and limits count again after', async (outage) => {
    const redis = await privateRedis();
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    const dir = await tempDir();
    const gw = await startTestGateway(`
store: "sqlite:${dir}/store.db"
redis: "${redis.url}"
limits: { namespace: "tg:${randomBytes(3).toString('hex')}:" }
upstreams: { app: { url: "${up.url}" } }
routes:
  - name: open
    match: { prefix: /open/ }
    upstream: app
    policies: [{ rate-limit: { limits: [{ per: minute, max: 100000, by: ip }] } }]
  - name: tight
    match: { prefix: /tight/ }
    upstream: app
    policies: [{ rate-limit: { limits: [{ per: minute, max: 3, by: ip }] } }]
`, { logs: true });
    const results = await outageUnderLoad(gw, redis, ['/open/a', '/open/b'], { beforeMs: 1_000, downMs: 3_000, afterMs: 1_000 }, outage);
    expect(summary(results), 'requests slower than the bound or failed').toBe('');
    for (const r of results) {
      expect(r.status, `${r.phase} ${r.path}`).toBe(200);
      expect(r.body).toBe('ok');
    }
    expect(gw.logs.some((l) => l.msg === 'limiter store failed' && l.level === 40)).toBe(true);
    // Back: counting works again (answers carry RateLimit headers again; the new Redis starts empty, so the
    // tight route admits 3 and refuses the 4th).
    const until = Date.now() + 5_000;
    let counted = false;
    while (!counted && Date.now() < until) {
      const r = await get(gw, '/open/probe');
      expect(r.ms).toBeLessThan(BOUND_MS);
      counted = r.headers['ratelimit'] !== undefined;
      if (!counted) await sleep(100);
    }
    expect(counted, 'limits are counted again after Redis returned').toBe(true);
    const statuses: number[] = [];
    for (let n = 0; n < 4; n++) {
      const r = await get(gw, '/tight/x');
      expect(r.ms).toBeLessThan(BOUND_MS);
      statuses.push(r.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('redis.timeout sets the bound: with { timeout: 1s } a frozen Redis costs the requests until three timeouts in a row, and the next go through at once', async () => {
    const redis = await privateRedis();
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    const dir = await tempDir();
    const gw = await startTestGateway(`
store: "sqlite:${dir}/store.db"
redis: { url: "${redis.url}", timeout: 1s }
upstreams: { app: { url: "${up.url}" } }
routes:
  - match: { prefix: / }
    upstream: app
    policies: [{ rate-limit: { limits: [{ per: minute, max: 100000, by: ip }] } }]
`);
    expect((await get(gw, '/warm')).status).toBe(200);
    redis.freeze();
    const waited = [];
    for (let i = 0; i < TIMEOUTS_BEFORE_BACKOFF; i++) waited.push(await get(gw, `/wait${i}`));
    const next = await get(gw, '/next');
    redis.thaw();
    for (const w of waited) {
      expect(w.status).toBe(200);
      expect(w.ms, 'waits out the configured timeout').toBeGreaterThan(900);
      expect(w.ms).toBeLessThan(BOUND_MS);
    }
    expect(next.status).toBe(200);
    expect(next.ms, 'skips Redis once it timed out three times in a row').toBeLessThan(500);
  });

  it('limiter store in redis, failOpen: false: the outage answers the catalogue\'s 503 at once, and service resumes by itself', async () => {
    const redis = await privateRedis();
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    const dir = await tempDir();
    const gw = await startTestGateway(`
store: "sqlite:${dir}/store.db"
redis: "${redis.url}"
upstreams: { app: { url: "${up.url}" } }
routes:
  - match: { prefix: / }
    upstream: app
    policies: [{ rate-limit: { failOpen: false, limits: [{ per: minute, max: 100000, by: ip }] } }]
`);
    const results = await outageUnderLoad(gw, redis, ['/a', '/b'], { beforeMs: 1_000, downMs: 3_000, afterMs: 2_500 });
    expect(summary(results), 'requests slower than the bound or failed').toBe('');
    const refused = results.filter((r) => r.status !== 200);
    expect(refused.length, 'requests refused while Redis was away').toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.status).toBe(503);
      const body = JSON.parse(r.body) as { code: string; error: string };
      expect(body.code).toBe('TG_LIMITS_UNAVAILABLE');
      expect(r.headers['retry-after']).toBeDefined();
    }
    // Before the kill every request was admitted (the last few sent before it may have reached the limiter after it).
    const before = results.filter((r) => r.phase === 'before').slice(0, -5);
    expect(before.map((r) => r.status)).toEqual(before.map(() => 200));
    // The last second of the load, well after the restart, is all 200 again.
    const tail = results.slice(-10);
    expect(tail.map((r) => r.status)).toEqual(tail.map(() => 200));
  });
});
