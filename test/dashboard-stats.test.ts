/**
 * /api/stats, the JSON the dashboard polls: behind the admin token (config admin.token, else env
 * TOLLGATE_ADMIN_TOKEN; 401 without it or with a wrong one), and its hour totals match a known load.
 * The page at / loads without a token and ships uPlot from the package.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { awayFromMinuteBoundary } from './helpers/clock.js';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';

afterEach(closeAll);

const TOKEN = 'stats-admin-token-0123456789';
const APP_KEY = 'stats-app-key-0123456789';

async function boot(top = '', env?: NodeJS.ProcessEnv) {
  const up = await startUpstream((req, res) => {
    const quota = /^\/api\/quota\/(\d+)/.exec(req.url ?? '');
    res.writeHead(req.url?.startsWith('/api/fail') ? 503 : 200, { 'content-type': 'text/plain', ...(quota ? { 'X-Discogs-Ratelimit-Remaining': quota[1] } : {}) });
    res.end('ok');
  });
  return startTestGateway(
    `
${top}
upstreams: { app: { url: "${up.url}" } }
routes:
  - name: api
    match: { prefix: /api/ }
    upstream: app
`,
    env ? { env } : {},
  );
}

interface Stats {
  hour: { requests: number; classes: Record<string, number> };
  routes: { name: string; requests: number }[];
  series: { t: number[]; rps: number[] };
}

const stats = async (adminUrl: string, token?: string, since = 0) => send(adminUrl, { path: `/api/stats?since=${since}`, headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('dashboard /api/stats', () => {
  it('answers 401 without the token or with a wrong one, and the known counts with it', async () => {
    const gw = await boot(`admin: { token: "${TOKEN}" }`);
    for (let i = 0; i < 4; i++) await send(gw.url, { path: '/api/x' });
    await send(gw.url, { path: '/api/fail' });
    await send(gw.url, { path: '/elsewhere' });

    const none = await stats(gw.adminUrl);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.json()).toMatchObject({ code: 'TG_ADMIN_UNAUTHORIZED' });
    expect((await stats(gw.adminUrl, 'wrong-token')).status).toBe(401);
    expect((await stats(gw.adminUrl, TOKEN.slice(0, -1))).status).toBe(401);
    expect(none.body.toString()).not.toContain(TOKEN);

    const ok = await stats(gw.adminUrl, TOKEN);
    expect(ok.status).toBe(200);
    const s = ok.json<Stats>();
    expect(s.hour.requests).toBe(6);
    expect(s.hour.classes).toMatchObject({ '2xx': 4, '4xx': 1, '5xx': 1 });
    expect(s.routes).toEqual([expect.objectContaining({ name: 'api', requests: 5 }), expect.objectContaining({ name: '(unmatched)', requests: 1 })]);

    // After the second closes, the per-second series carries the requests (polled with since=<last t>).
    await new Promise((r) => setTimeout(r, 2100));
    const later = (await stats(gw.adminUrl, TOKEN)).json<Stats>();
    expect(later.series.rps.reduce((a, b) => a + b, 0)).toBe(6);
    const last = later.series.t[later.series.t.length - 1];
    const next = (await stats(gw.adminUrl, TOKEN, last)).json<Stats>();
    expect(next.series.t.every((t) => t > last)).toBe(true);
    expect(next.hour.requests).toBe(6);
  });

  it("shows the upstream's quota left when it sends X-Discogs-Ratelimit-Remaining (also as a /metrics gauge)", async () => {
    const gw = await boot();
    await send(gw.url, { path: '/api/quota/57' });
    const s = (await stats(gw.adminUrl)).json<{ routes: { name: string; upstreamQuota: { remaining: number } | null }[] }>();
    expect(s.routes.find((r) => r.name === 'api')?.upstreamQuota?.remaining).toBe(57);
    const m = (await send(gw.adminUrl, { path: '/metrics' })).body.toString();
    expect(m).toContain('tollgate_upstream_ratelimit_remaining{route="api"} 57');
  });

  it('shows each application\'s usage against its plan limits, and its requests per 10 s', async () => {
    await awayFromMinuteBoundary(5_000);
    const up = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-dash-stats-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const gw = await startTestGateway(`
store: "sqlite:${join(dir, 'stats.db')}"
upstreams: { app: { url: "${up.url}" } }
plans: { small: { limits: { hits: [{ per: minute, max: 10 }, { per: day, max: 500 }] } } }
applications:
  - { id: shop, plan: small, keys: ["${APP_KEY}"] }
  - { id: idle, plan: small, keys: ["${APP_KEY}-idle"] }
routes:
  - name: keyed
    match: { prefix: /keyed/ }
    upstream: app
    policies: [{ auth: { apiKey: {} } }, rate-limit, usage]
`);
    for (let i = 0; i < 6; i++) expect((await send(gw.url, { path: '/keyed/x', headers: { 'x-api-key': APP_KEY } })).status).toBe(200);
    const s = (await stats(gw.adminUrl)).json<{
      applicationSlots: number[];
      applications: { id: string; requests: number; series: number[] }[];
      planUsage: { id: string; plan: string; limits: { metric: string; period: string; max: number; current: number; resetsAt: number | null }[] }[];
    }>();
    expect(s.applications).toEqual([{ id: 'shop', requests: 6, series: expect.any(Array) }]);
    expect(s.applications[0].series).toHaveLength(s.applicationSlots.length);
    expect(s.applications[0].series.reduce((a, b) => a + b, 0)).toBe(6);
    // Only the applications seen in the hour: `idle` sent nothing.
    expect(s.planUsage).toEqual([
      {
        id: 'shop',
        plan: 'small',
        limits: [
          { metric: 'hits', period: 'minute', max: 10, current: 6, resetsAt: expect.any(Number) },
          { metric: 'hits', period: 'day', max: 500, current: 6, resetsAt: expect.any(Number) },
        ],
      },
    ]);
    // Reading does not count: a second look says the same.
    const again = (await stats(gw.adminUrl)).json<{ planUsage: { limits: { current: number }[] }[] }>();
    expect(again.planUsage[0].limits.map((l) => l.current)).toEqual([6, 6]);
  });

  it('has no plan usage section when the gateway has no consumers', async () => {
    const gw = await boot();
    await send(gw.url, { path: '/api/x' });
    const s = (await stats(gw.adminUrl)).json<Record<string, unknown>>();
    expect(s).not.toHaveProperty('planUsage');
  });

  it('takes the token from TOLLGATE_ADMIN_TOKEN when the config has none', async () => {
    const gw = await boot('', { ...process.env, TOLLGATE_ADMIN_TOKEN: TOKEN });
    expect((await stats(gw.adminUrl)).status).toBe(401);
    expect((await stats(gw.adminUrl, TOKEN)).status).toBe(200);
  });

  it('serves the page without a token, with uPlot from the package', async () => {
    const gw = await boot(`admin: { token: "${TOKEN}" }`);
    const page = await send(gw.adminUrl, { path: '/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body.toString()).toContain('after a restart the hour starts over');
    expect(page.body.toString()).not.toMatch(/https?:\/\//);
    const lib = await send(gw.adminUrl, { path: '/dashboard/uPlot.iife.min.js' });
    expect(lib.status).toBe(200);
    expect(lib.body.toString()).toContain('uPlot');
  });
});
