/**
 * Long-period limits survive a restart on the embedded default (memory limiter, SQLite store): a plan of
 * 3 hits per day admits 3, and after a graceful restart (SIGTERM) the next request is 429, not 2 more.
 * After a crash (SIGKILL) only the last second of counts may be missing. Through the compiled binary
 * (`npm run build` first).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { send } from '../helpers/gateway.js';
import { closeAll, startUpstream } from '../helpers/upstream.js';

let dir: string;
let upstreamUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-limits-restart-'));
  upstreamUrl = (await startUpstream()).url;
});

afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, key: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `
store: "sqlite:${join(dir, `${name}.db`)}"
log: { level: warn, accessLog: false }
upstreams: { app: { url: "${upstreamUrl}" } }
plans:
  three: { limits: { hits: [{ per: day, max: 3 }] } }
  monthly: { limits: { hits: [{ per: month, max: 2 }] } }
applications:
  - { id: daily, plan: three, keys: ["${key}-day"] }
  - { id: monthly, plan: monthly, keys: ["${key}-month"] }
routes:
  - name: keyed
    match: { prefix: /k/ }
    upstream: app
    policies: [{ auth: { apiKey: {} } }, rate-limit]
  - name: by-ip
    match: { prefix: /ip/ }
    upstream: app
    policies: [{ rate-limit: { plan: false, limits: [{ per: day, max: 2, by: ip }] } }]
`,
  );
  return file;
}

async function statuses(url: string, n: number, path: string, key?: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(url, { path, headers: key ? { 'x-api-key': key } : {} })).status);
  return out;
}

describe('limit counters across restarts (memory limiter, SQLite store)', () => {
  it('3 per day: 3 admitted, SIGTERM, restart: the next is 429 (also a month plan and a daily IP limit)', async () => {
    const cfg = config('graceful', 'graceful-key-0123456789');
    let gw = await startCli(['start', '-c', cfg, '--port', '0', '--admin-port', '0']);
    expect(await statuses(gw.url, 3, '/k/x', 'graceful-key-0123456789-day')).toEqual([200, 200, 200]);
    expect(await statuses(gw.url, 1, '/k/x', 'graceful-key-0123456789-month')).toEqual([200]);
    expect(await statuses(gw.url, 2, '/ip/x')).toEqual([200, 200]);
    expect(await gw.stop('SIGTERM')).toBe(0);

    gw = await startCli(['start', '-c', cfg, '--port', '0', '--admin-port', '0']);
    try {
      const refused = await send(gw.url, { path: '/k/x', headers: { 'x-api-key': 'graceful-key-0123456789-day' } });
      expect(refused.status).toBe(429);
      expect((JSON.parse(refused.body.toString()) as { code: string }).code).toBe('TG_RATE_LIMITED');
      expect(await statuses(gw.url, 2, '/k/x', 'graceful-key-0123456789-month')).toEqual([200, 429]);
      expect(await statuses(gw.url, 1, '/ip/x')).toEqual([429]);
    } finally {
      await gw.stop();
    }
  });

  it('after SIGKILL, counts older than a second are kept', async () => {
    const cfg = config('crash', 'crash-key-0123456789');
    let gw = await startCli(['start', '-c', cfg, '--port', '0', '--admin-port', '0']);
    expect(await statuses(gw.url, 3, '/k/x', 'crash-key-0123456789-day')).toEqual([200, 200, 200]);
    await sleep(1_500);
    await gw.stop('SIGKILL');

    gw = await startCli(['start', '-c', cfg, '--port', '0', '--admin-port', '0']);
    try {
      expect(await statuses(gw.url, 1, '/k/x', 'crash-key-0123456789-day')).toEqual([429]);
    } finally {
      await gw.stop();
    }
  });
});
