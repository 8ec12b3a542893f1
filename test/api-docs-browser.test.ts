/**
 * Swagger UI in headless Chromium (playwright-core, Debian's /usr/bin/chromium): the admin page and the
 * public page render the operations from the generated document, and "Try it out" calls the gateway and
 * shows its answer. Skipped with a message when Chromium is missing, except under CI=true.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, startTestGateway } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { echo, startUpstream } from './helpers/upstream.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI !== 'true') console.warn(`skipping the Swagger UI browser test: no Chromium at ${CHROMIUM}`);

describe.skipIf(!available && process.env.CI !== 'true')('Swagger UI in a browser', () => {
  let browser: Browser;
  let gw: TestGateway;

  beforeAll(async () => {
    const upstream = await startUpstream(echo);
    gw = await startTestGateway(`
upstreams: { app: { url: "${upstream.url}" } }
docs: { public: true, path: /api-docs }
routes:
  - name: echo
    match: { pattern: /echo/:word, methods: [GET] }
    upstream: app
    policies: [negotiate]
`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await closeAll();
  });

  /** Opens the page, expands the echo operation and runs it with `word`; returns the status and body shown. */
  async function tryIt(page: Page, url: string, word: string): Promise<{ status: string; body: string }> {
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    page.on('pageerror', (e) => failed.push(e.message));
    const res = await page.goto(url);
    expect(res?.status()).toBe(200);
    const op = page.locator('.opblock', { has: page.locator('[data-path="/echo/{word}"]') });
    await op.first().waitFor({ timeout: 15_000 });
    await op.locator('.opblock-summary').first().click();
    await op.locator('button.try-out__btn').click();
    await op.locator('input[placeholder="word"]').fill(word);
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 15_000 });
    const body = await op.locator('.live-responses-table .response-col_description pre').first().innerText();
    expect(failed).toEqual([]);
    return { status: (await status.innerText()).trim(), body };
  }

  it('the public page renders the operations and Try it out reaches the gateway', async () => {
    const page = await browser.newPage();
    const got = await tryIt(page, `${gw.url}/api-docs`, 'public');
    expect(got.status).toBe('200');
    expect(got.body).toContain('/echo/public');
    // Consumers see no admin endpoints.
    expect(await page.locator('[data-path="/healthz"]').count()).toBe(0);
    await page.screenshot({ path: join(tmpdir(), 'tollgate-api-docs-public.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('the admin page lists the admin routes too and Try it out reaches the gateway through the relay', async () => {
    const page = await browser.newPage();
    const got = await tryIt(page, `${gw.adminUrl}/docs`, 'admin');
    expect(got.status).toBe('200');
    expect(got.body).toContain('/echo/admin');
    for (const path of ['/healthz', '/readyz']) expect(await page.locator('.opblock', { has: page.locator(`[data-path="${path}"]`) }).count(), path).toBe(1);
    await page.screenshot({ path: join(tmpdir(), 'tollgate-api-docs-admin.png'), fullPage: true });
    await page.close();
  }, 60_000);
});
