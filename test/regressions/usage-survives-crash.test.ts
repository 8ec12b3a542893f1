/**
 * Usage survives a crash within a second: with the default flush interval, counts older than ~1 s are in
 * the store when the gateway is killed with SIGKILL (no shutdown hook runs); SIGTERM still loses none.
 * Through the compiled binary (`npm run build` first), SQLite store, default `limits.usageFlush`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { send } from '../helpers/gateway.js';
import { closeAll, startUpstream } from '../helpers/upstream.js';

const KEY = 'crash-usage-key-0123456789';

let dir: string;
let cfg: string;
let storeUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-usage-crash-'));
  const up = await startUpstream();
  storeUrl = `sqlite:${join(dir, 'usage.db')}`;
  cfg = join(dir, 'gw.yaml');
  writeFileSync(
    cfg,
    `
store: "${storeUrl}"
log: { level: warn, accessLog: false }
upstreams: { app: { url: "${up.url}" } }
plans: { big: { limits: { hits: [{ per: day, max: 100000 }] } } }
applications: [{ id: crashy, plan: big, keys: ["${KEY}"] }]
routes:
  - match: { prefix: / }
    upstream: app
    policies: [{ auth: { apiKey: {} } }, rate-limit, usage]
`,
  );
});

afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

async function hitsToday(): Promise<number> {
  const r = await runCli(['usage', 'crashy', '--period', 'day', '--metric', 'hits', '--json', '--store', storeUrl]);
  expect(r.code, r.stderr).toBe(0);
  const rows = JSON.parse(r.stdout) as { value: number }[];
  return rows.reduce((n, row) => n + row.value, 0);
}

async function sendMany(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 20) {
    const codes = await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => send(url, { path: '/x', headers: { 'x-api-key': KEY } }).then((r) => r.status)));
    expect(codes.every((c) => c === 200)).toBe(true);
  }
}

describe('usage counted before a crash', () => {
  it('SIGKILL 1.5 s after 200 requests: `tollgate usage` shows all 200', async () => {
    const gw = await startCli(['start', '-c', cfg, '--port', '0', '--admin-port', '0']);
    await sendMany(gw.url, 200);
    await sleep(1_500);
    await gw.stop('SIGKILL');
    expect(await hitsToday()).toBe(200);
  });

  it('SIGTERM right after 50 more requests: none lost', async () => {
    const gw = await startCli(['start', '-c', cfg, '--port', '0', '--admin-port', '0']);
    await sendMany(gw.url, 50);
    expect(await gw.stop('SIGTERM')).toBe(0);
    expect(await hitsToday()).toBe(250);
  });
});
