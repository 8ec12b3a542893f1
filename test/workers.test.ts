/**
 * `tollgate start --workers 2`: real processes (the compiled CLI as primary, two node:cluster workers), a real
 * upstream on port 0, the embedded default store (a SQLite file, no Redis).
 *   - a limit of 100 per minute admits exactly 100 of 300 concurrent requests spread over both workers, and
 *     the usage they flush adds up to exactly 100;
 *   - a key revoked with the CLI is refused by every worker within a second;
 *   - a worker killed with SIGKILL is replaced, and the requests in flight on the other one finish;
 *   - SIGHUP with a changed config under load: no request fails and every worker serves the new config;
 *   - SIGHUP with a broken config changes nothing in any worker;
 *   - a disk cache is shared: what one worker filled, the other serves without asking the upstream;
 *   - the one admin listener's /metrics counts the requests of every worker.
 * Which worker holds a connection is read from `ss -tnp` (the gateway-side socket's owner pid).
 * Needs `npm run build` (npm test does it).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/index.js';
import { runCli, startCli } from './helpers/cli.js';
import type { Running } from './helpers/cli.js';
import { awayFromMinuteBoundary } from './helpers/clock.js';
import { redisAvailable } from './helpers/services.js';
import { closeAll, startUpstream } from './helpers/upstream.js';
import type { TestUpstream } from './helpers/upstream.js';

const redisUrl = await redisAvailable();
const LIMIT = 100;
const TOTAL = 300;
const KEY = `workers-key-${randomBytes(4).toString('hex')}`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-workers-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  await closeAll();
});

function writeConfig(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

async function start(cfg: string, extra: string[] = []): Promise<Running> {
  const r = await startCli(['start', '-c', cfg, '--port', '0', '--admin-port', '0', '--workers', '2', ...extra]);
  running.push(r);
  return r;
}

/** The pids of the primary's children (its workers). */
function workerPids(primary: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(primary)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number).sort();
  } catch {
    return [];
  }
}

/** Client port → pid of the process holding the gateway's side of that connection. */
function connectionOwners(gatewayPort: number): Map<number, number> {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( sport = :${gatewayPort} )`], { encoding: 'utf8' });
  const owners = new Map<number, number>();
  for (const line of out.split('\n')) {
    const m = /:(\d+)\s+\S*:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/.exec(line);
    if (m && Number(m[1]) === gatewayPort) owners.set(Number(m[2]), Number(m[3]));
  }
  return owners;
}

interface Answer {
  status?: number;
  body?: string;
  error?: string;
  localPort?: number;
}

/** One request on its own new connection (so the cluster hands it to the next worker in turn). */
function fresh(url: string, headers: Record<string, string> = {}, onSocket?: (localPort: number) => void): Promise<Answer> {
  return new Promise((resolve) => {
    let localPort: number | undefined;
    const req = httpRequest(url, { agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body, localPort }));
      res.on('error', (e) => resolve({ error: e.message, localPort }));
    });
    req.on('socket', (s) =>
      s.once('connect', () => {
        localPort = s.localPort;
        onSocket?.(localPort!);
      }),
    );
    req.on('error', (e) => resolve({ error: e.message, localPort }));
    req.end();
  });
}

const portOf = (url: string) => Number(new URL(url).port);

/** Waits for the gateway's output to match `re`; fails with the output so far. */
async function waitForOutput(gw: Running, re: RegExp, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!re.test(gw.output())) {
    if (Date.now() - t0 > ms) throw new Error(`no ${String(re)} in:\n${gw.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tollgate start --workers 2 (SQLite, no Redis)', () => {
  function keysConfig(up: TestUpstream, store: string, redis?: string): string {
    const run = randomBytes(3).toString('hex');
    return writeConfig(
      `keys-${run}.yaml`,
      `
store: "sqlite:${store}"
${redis ? `redis: { url: "${redis}", timeout: 5s }\n` : ''}limits: { usageFlush: 200ms, namespace: "tollgate:test:workers:${run}:" }
log: { level: warn, accessLog: false }
upstreams: { app: { url: "${up.url}" } }
plans:
  hundred: { limits: { hits: [{ per: minute, max: ${LIMIT} }] } }
applications:
  - { id: acc, plan: hundred, keys: ["${KEY}"] }
routes:
  - match: { prefix: / }
    upstream: app
    policies: [{ auth: { apiKey: {} } }, rate-limit, usage]
`,
    );
  }

  async function exactLimit(redis: string | undefined): Promise<void> {
    const up = await startUpstream();
    const store = join(dir, `limits-${redis ? 'redis' : 'primary'}.db`);
    const gw = await start(keysConfig(up, store, redis));
    expect(workerPids(gw.child.pid!)).toHaveLength(2);
    await awayFromMinuteBoundary(20_000);
    const agent = new Agent({ connections: TOTAL });
    const counts = new Map<number, number>();
    await Promise.all(
      Array.from({ length: TOTAL }, async () => {
        const r = await request(`${gw.url}/x`, { headers: { 'x-api-key': KEY }, dispatcher: agent });
        await r.body.dump();
        counts.set(r.statusCode, (counts.get(r.statusCode) ?? 0) + 1);
      }),
    );
    // Both workers served: the connections were spread over them.
    const owners = new Set(connectionOwners(portOf(gw.url)).values());
    await agent.close();
    expect(Object.fromEntries(counts)).toEqual({ 200: LIMIT, 429: TOTAL - LIMIT });
    expect(owners.size).toBe(2);

    // SIGTERM drains both workers; each flushed its own usage; the store adds them up.
    running.splice(running.indexOf(gw), 1);
    expect(await gw.stop()).toBe(0);
    const s = await openStore(`sqlite:${store}`);
    try {
      const rows = await s.getUsage('acc', { period: 'minute', metric: 'hits' });
      expect(rows.reduce((n, r) => n + r.value, 0)).toBe(LIMIT);
    } finally {
      await s.close();
    }
  }

  it(`admits exactly ${LIMIT} of ${TOTAL} concurrent requests across the workers (counters in the primary), and usage adds up to ${LIMIT}`, () => exactLimit(undefined), 90_000);
  it.skipIf(!redisUrl)(`with redis: the workers count in Redis, exactly ${LIMIT} of ${TOTAL} admitted`, () => exactLimit(redisUrl), 90_000);

  it('a key revoked with the CLI is refused by every worker within a second', async () => {
    const up = await startUpstream();
    const store = join(dir, 'revoke.db');
    const cfg = keysConfig(up, store);
    const gw = await start(cfg);
    const created = await runCli(['keys', 'create', 'acc', '--json', '-c', cfg]);
    expect(created.code).toBe(0);
    const { id, secret } = JSON.parse(created.stdout) as { id: string; secret: string };
    // Known to both workers (each has looked it up and cached it).
    const before = await Promise.all(Array.from({ length: 8 }, () => fresh(`${gw.url}/x`, { 'x-api-key': secret })));
    expect(before.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect((await runCli(['keys', 'revoke', id, '-c', cfg])).code).toBe(0);
    const revokedAt = Date.now();
    let statuses: (number | undefined)[] = [];
    while (Date.now() - revokedAt < 1500) {
      // Sequential fresh connections alternate between the workers (round robin).
      statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await fresh(`${gw.url}/x`, { 'x-api-key': secret })).status);
      if (statuses.every((s) => s === 401)) break;
      await sleep(25);
    }
    expect(statuses).toEqual(Array(6).fill(401));
    expect(Date.now() - revokedAt).toBeLessThan(1500);
  }, 60_000);
});

describe('tollgate start --workers 2: processes', () => {
  function plainConfig(name: string, up: TestUpstream, extra = ''): string {
    return writeConfig(
      name,
      `
log: { level: info, accessLog: false }
upstreams: { app: { url: "${up.url}" } }
routes:
  - name: all
    match: { prefix: / }
    upstream: app
${extra}`,
    );
  }

  it('a killed worker is replaced, and the requests in flight on the other one finish', async () => {
    const up = await startUpstream((_req, res) => setTimeout(() => res.end('slow'), 1500));
    const gw = await start(plainConfig('kill.yaml', up));
    const primary = gw.child.pid!;
    const before = workerPids(primary);
    expect(before).toHaveLength(2);

    const ports: number[] = [];
    const inflight = Array.from({ length: 10 }, () => fresh(`${gw.url}/x`, {}, (p) => ports.push(p)));
    while (up.requests.length < 10) await sleep(20);
    const owners = connectionOwners(portOf(gw.url));
    const victim = owners.get(ports[0])!;
    expect(before).toContain(victim);
    process.kill(victim, 'SIGKILL');
    const answers = await Promise.all(inflight);
    for (const a of answers) {
      if (owners.get(a.localPort!) === victim) expect(a.error ?? a.status).not.toBe(200);
      else expect(a).toMatchObject({ status: 200, body: 'slow' });
    }
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);

    // Replaced within about a second; both serve again.
    const t0 = Date.now();
    let now: number[] = [];
    while (Date.now() - t0 < 5000) {
      now = workerPids(primary);
      if (now.length === 2 && !now.includes(victim)) break;
      await sleep(50);
    }
    expect(now).toHaveLength(2);
    expect(now).not.toContain(victim);
    // The new worker takes connections: owners of connections in flight are exactly the two current workers.
    up.answer((_req, res) => setTimeout(() => res.end('ok'), 400));
    const served = new Set<number>();
    for (let round = 0; round < 10 && served.size < 2; round++) {
      const ps: number[] = [];
      const n = up.requests.length;
      const reqs = Array.from({ length: 6 }, () => fresh(`${gw.url}/x`, {}, (p) => ps.push(p)));
      while (up.requests.length < n + 6) await sleep(20);
      const o = connectionOwners(portOf(gw.url));
      for (const p of ps) if (o.has(p)) served.add(o.get(p)!);
      expect((await Promise.all(reqs)).map((a) => a.status)).toEqual(Array(6).fill(200));
    }
    expect([...served].sort()).toEqual(now);
    expect(served.has(victim)).toBe(false);
    expect(gw.output()).toMatch(/worker died; restarting it/);
  }, 60_000);

  it('SIGHUP with a changed config under load: no request fails, and every worker serves the new config', async () => {
    const a = await startUpstream((_req, res) => res.end('A'));
    const b = await startUpstream((_req, res) => res.end('B'));
    const cfg = plainConfig('reload.yaml', a);
    const gw = await start(cfg);
    const agent = new Agent({ connections: 20 });
    const failures: string[] = [];
    const seen = new Map<string, number>();
    let stop = false;
    const load = async () => {
      while (!stop) {
        try {
          const r = await request(`${gw.url}/x`, { dispatcher: agent });
          const body = await r.body.text();
          if (r.statusCode !== 200) failures.push(`${r.statusCode} ${body}`);
          else seen.set(body, (seen.get(body) ?? 0) + 1);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const loaders = Array.from({ length: 20 }, load);
    await sleep(500);
    plainConfig('reload.yaml', b);
    gw.child.kill('SIGHUP');
    await sleep(800);
    plainConfig('reload.yaml', a);
    gw.child.kill('SIGHUP');
    await sleep(800);
    plainConfig('reload.yaml', b);
    gw.child.kill('SIGHUP');
    await waitForOutput(gw, /reload done[\s\S]*reload done[\s\S]*reload done/);
    await sleep(300);
    stop = true;
    await Promise.all(loaders);
    await agent.close();
    expect(failures).toEqual([]);
    expect(seen.get('A')).toBeGreaterThan(0);
    expect(seen.get('B')).toBeGreaterThan(0);
    // Every worker now answers from B.
    const round = await Promise.all(Array.from({ length: 8 }, () => fresh(`${gw.url}/x`)));
    expect(round.map((r) => r.body)).toEqual(Array(8).fill('B'));
  }, 60_000);

  it('SIGHUP with a broken config changes nothing in any worker', async () => {
    const a = await startUpstream((_req, res) => res.end('A'));
    const cfg = plainConfig('broken.yaml', a);
    const gw = await start(cfg);
    writeConfig('broken.yaml', `upstreams: { app: { url: "${a.url}" } }\nroutes:\n  - match: { prefix: / }\n    upstream: nowhere\n`);
    gw.child.kill('SIGHUP');
    await waitForOutput(gw, /reload failed/);
    expect(gw.output()).toMatch(/previous config keeps serving in every worker/);
    expect(gw.output()).not.toMatch(/config reloaded/);
    const round = await Promise.all(Array.from({ length: 8 }, () => fresh(`${gw.url}/x`)));
    expect(round.map((r) => r.body)).toEqual(Array(8).fill('A'));
  }, 60_000);

  it('a disk cache is shared: what one worker filled, the other serves', async () => {
    const up = await startUpstream((_req, res) => setTimeout(() => res.end('cached body'), 300));
    const cacheDir = join(dir, 'disk-cache');
    const gw = await start(plainConfig('disk.yaml', up, `    policies:\n      - cache: { store: disk, dir: "${cacheDir}", ttl: 5m }\n`));
    const first = await fresh(`${gw.url}/thing`);
    expect(first).toMatchObject({ status: 200, body: 'cached body' });
    // The fill commits (its sidecar is renamed into place) as the response ends, not before: wait for it.
    const sidecars = () => (existsSync(join(cacheDir, 'v1', 'entries')) ? readdirSync(join(cacheDir, 'v1', 'entries'), { recursive: true }).filter((f) => String(f).endsWith('.json')) : []);
    for (const t0 = Date.now(); sidecars().length === 0 && Date.now() - t0 < 5000; ) await sleep(20);
    // Fresh connections alternate between the workers; hold them open (slow upstream for any miss) to see whose they are.
    const ports: number[] = [];
    const answers = await Promise.all(Array.from({ length: 6 }, () => fresh(`${gw.url}/thing`, {}, (p) => ports.push(p))));
    expect(answers.map((a) => a.body)).toEqual(Array(6).fill('cached body'));
    expect(up.requests).toHaveLength(1);
  }, 60_000);

  it('--watch: a broken save reloads nowhere, the next good save reloads every worker', async () => {
    const a = await startUpstream((_req, res) => res.end('A'));
    const b = await startUpstream((_req, res) => res.end('B'));
    const cfg = plainConfig('watch.yaml', a);
    const gw = await start(cfg, ['--watch']);
    writeConfig('watch.yaml', 'routes: [ { match: { prefix: / }, upstream: nowhere } ]\n');
    await waitForOutput(gw, /reload failed/);
    expect((await Promise.all(Array.from({ length: 6 }, () => fresh(`${gw.url}/x`)))).map((r) => r.body)).toEqual(Array(6).fill('A'));
    plainConfig('watch.yaml', b);
    await waitForOutput(gw, /reload done/);
    expect((await Promise.all(Array.from({ length: 6 }, () => fresh(`${gw.url}/x`)))).map((r) => r.body)).toEqual(Array(6).fill('B'));
  }, 60_000);

  it("the admin listener's /metrics counts every worker's requests", async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    const gw = await start(plainConfig('metrics.yaml', up));
    const answers = await Promise.all(Array.from({ length: 20 }, () => fresh(`${gw.url}/x`)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    // The admin worker refreshes the other worker's counters once a second.
    let total = 0;
    for (const t0 = Date.now(); total !== 20 && Date.now() - t0 < 5000; await sleep(200)) {
      const text = await (await request(`${gw.adminUrl}/metrics`)).body.text();
      total = [...text.matchAll(/^tollgate_http_requests_total\{route="all"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    }
    expect(total).toBe(20);
  }, 60_000);
});
