/**
 * The dashboard in headless Chromium (playwright-core, Debian's chromium): after a known load through the
 * gateway, the page asks for the admin token, refuses a wrong one, and once logged in shows the request
 * counts per route and application; it fits a phone-width screen. The test saves a screenshot
 * (DASHBOARD_SCREENSHOT=docs/dashboard.png to refresh the README's).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import { awayFromMinuteBoundary } from './helpers/clock.js';
import { chromiumAvailable } from './helpers/services.js';
import { startUpstream } from './helpers/upstream.js';

const executablePath = chromiumAvailable();
const TOKEN = 'dashboard-admin-token-0123456789';
const KEY = 'dashboard-app-key-0123456789';
const BUSY_KEY = 'dashboard-busy-key-0123456789';

let dir: string;
let browser: Browser | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-dashboard-'));
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(closeAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!executablePath)('dashboard in a browser', () => {
  it('after a known load, logging in with the admin token shows the right counts (desktop and phone width)', async () => {
    await awayFromMinuteBoundary(20_000);
    // The upstream reports its own quota on /api/ (as Discogs does): 1000 calls, one less per call.
    let quota = 1000;
    const up = await startUpstream((req, res) => {
      const fail = req.url?.startsWith('/api/fail');
      const quotaHeader = req.url?.startsWith('/api/') ? { 'x-discogs-ratelimit-remaining': String(--quota) } : {};
      setTimeout(() => {
        res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=60', ...quotaHeader });
        res.end('{"ok":true}');
      }, 2 + Math.random() * 8);
    });
    const gw = await startTestGateway(`
store: "sqlite:${join(dir, 'dash.db')}"
admin: { token: "${TOKEN}" }
limits: { refresh: 100ms, usageFlush: 100ms }
upstreams: { app: { url: "${up.url}" } }
plans: { basic: { limits: { hits: [{ per: minute, max: 10 }, { per: day, max: 1000 }] } } }
applications:
  - { id: record-shop, plan: basic, keys: ["${KEY}"] }
  - { id: label-archive, plan: basic, keys: ["${BUSY_KEY}"] }
routes:
  - name: api
    match: { prefix: /api/ }
    upstream: app
  - name: partners
    match: { prefix: /partners/ }
    upstream: app
    policies: [{ auth: { apiKey: {} } }, rate-limit, usage]
  - name: catalog
    match: { prefix: /catalog/ }
    upstream: app
    policies: [{ cache: {} }]
  - name: search
    match: { prefix: /search }
    upstream: app
    policies: [{ rate-limit: { limits: [{ per: minute, max: 4, by: ip }] } }]
`);
    // Spread over a few seconds so the charts have points. Per round: 10 + 1 api, 2 partners by record-shop (6 of
    // the plan's 10 per minute) and 3 by label-archive (9 of 10: above 80 %), 4 catalog (2 misses in the first
    // round, hits after), 2 search (the 5th and 6th are refused).
    const expected = { api: 33, partners: 15, catalog: 12, search: 6, limited: 2, unmatched: 1, total: 67 };
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => send(gw.url, { path: `/api/items/${i}` })));
      await send(gw.url, { path: '/api/fail' });
      await Promise.all(Array.from({ length: 2 }, () => send(gw.url, { path: '/partners/stock', headers: { 'x-api-key': KEY } })));
      await Promise.all(Array.from({ length: 3 }, () => send(gw.url, { path: '/partners/stock', headers: { 'x-api-key': BUSY_KEY } })));
      for (const p of ['/catalog/a', '/catalog/b', '/catalog/a', '/catalog/b']) await send(gw.url, { path: p });
      for (let i = 0; i < 2; i++) await send(gw.url, { path: '/search?q=jazz' });
      await sleep(1100);
    }
    expect((await send(gw.url, { path: '/nowhere' })).status).toBe(404);

    browser = await chromium.launch({ executablePath, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(gw.adminUrl + '/');
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#main').isVisible()).toBe(false);

    await page.fill('#token', 'not-the-token');
    await page.click('#login button[type=submit]');
    await expect.poll(() => page.textContent('#login-error')).toBe('That token was refused.');

    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.locator('#main').waitFor({ state: 'visible' });
    expect(await page.locator('#login').isVisible()).toBe(false);
    await expect.poll(() => page.textContent('#total-requests'), { timeout: 10_000 }).toBe(String(expected.total));
    const row = (name: string) => page.locator(`#routes tr[data-route="${name}"] td`).nth(1).textContent();
    expect(await row('api')).toBe(String(expected.api));
    expect(await row('partners')).toBe(String(expected.partners));
    // Upstream quota left: sampled from the route's 1st and 33rd answers, so one of the values the upstream sent.
    const left = Number(await page.locator('#routes tr[data-route="api"] td').nth(10).textContent());
    expect(left).toBeGreaterThanOrEqual(1000 - expected.api);
    expect(left).toBeLessThan(1000);
    expect(await page.locator('#routes tr[data-route="partners"] td').nth(10).textContent()).toBe('–');
    expect(await row('catalog')).toBe(String(expected.catalog));
    expect(await row('search')).toBe(String(expected.search));
    expect(await row('(unmatched)')).toBe(String(expected.unmatched));
    expect(await page.textContent('#limited')).toBe(String(expected.limited));
    // 12 catalog GETs: 2 misses, 10 hits.
    expect(await page.textContent('#hit-ratio')).toBe('83.3 %');
    expect(await page.textContent('#apps')).toContain('record-shop');
    expect(await page.textContent('#apps')).toContain('label-archive');
    expect(await page.locator('#apps .row').nth(0).textContent()).toBe('label-archive9');
    expect(await page.locator('#apps .row').nth(1).textContent()).toBe('record-shop6');
    expect(await page.textContent('body')).toContain('after a restart the hour starts over');
    // Usage against the plan: a bar per limit with "used / max", red only above 80 %; and the app's own chart.
    const card = page.locator('#app-limits .card[data-app="record-shop"]');
    expect(await card.locator('.limit[data-limit="hits-minute"] .used').textContent()).toBe('6 / 10');
    expect(await card.locator('.limit[data-limit="hits-day"] .used').textContent()).toBe('6 / 1,000');
    expect(await card.locator('.limit.high').count()).toBe(0);
    expect(await card.locator('.uplot canvas').count()).toBe(1);
    const busy = page.locator('#app-limits .card[data-app="label-archive"]');
    expect(await busy.locator('.limit.high[data-limit="hits-minute"] .used').textContent()).toBe('9 / 10');
    expect(await busy.locator('.limit.high').count()).toBe(1);
    expect(await page.locator('#app-limits .card').evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.app))).toEqual(['label-archive', 'record-shop']);
    // The charts drew (uPlot canvases), and the token stays in this tab's sessionStorage.
    expect(await page.locator('.charts .uplot canvas').count()).toBe(4);
    expect(await page.evaluate(() => sessionStorage.getItem('tollgate.adminToken'))).toBe(TOKEN);
    await sleep(2500); // one more poll: the last second's point is in the charts
    const shot = process.env.DASHBOARD_SCREENSHOT ?? join(tmpdir(), 'tollgate-dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`[dashboard] screenshot saved to ${shot}`);

    // Phone width: nothing wider than the screen (the routes table scrolls inside its own box).
    await page.setViewportSize({ width: 375, height: 800 });
    await sleep(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(await page.textContent('#total-requests')).toBe(String(expected.total));
    expect(await card.locator('.limit[data-limit="hits-minute"] .used').textContent()).toBe('6 / 10');
    await page.screenshot({ path: shot.replace(/\.png$/, '-phone.png'), fullPage: true });
  }, 60_000);
});
