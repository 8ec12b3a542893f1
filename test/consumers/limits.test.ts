/**
 * Plans, limits and usage through the real gateway (memory limiter, SQLite store): what a consumer notices
 * (429 with Retry-After, RateLimit headers) and what `tollgate usage` will read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/index.js';
import { awayFromMinuteBoundary } from '../helpers/clock.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

const K = { minute: 'minute-key-0123456789', day: 'day-key-0123456789', search: 'search-key-0123456789', burst: 'burst-key-0123456789' };

let dir: string;
let gw: TestGateway;
let store: Store;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-limits-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await store?.close();
  await closeAll();
});

async function boot(): Promise<void> {
  const up = await startUpstream();
  const db = join(dir, `t${Date.now()}${Math.random().toString(36).slice(2)}.db`);
  gw = await startTestGateway(`
store: "sqlite:${db}"
limits: { refresh: 100ms, usageFlush: 100ms }
upstreams: { app: { url: "${up.url}" } }
services:
  books:
    metrics: { search: "Searches" }
    mappingRules:
      - { method: GET, pattern: /api/search, metric: search, delta: 1 }
      - { method: GET, pattern: "/api/books/{id}$", metric: hits, delta: 2 }
plans:
  per-minute: { limits: { hits: [{ per: minute, max: 3 }, { per: day, max: 1000 }] } }
  per-day: { limits: { hits: [{ per: day, max: 2 }] } }
  searches: { service: books, limits: { search: [{ per: minute, max: 2 }], hits: [{ per: hour, max: 100 }] } }
  burst: { throttles: [{ per: minute, max: 2 }] }
applications:
  - { id: minute-app, plan: per-minute, keys: ["${K.minute}"] }
  - { id: day-app, plan: per-day, keys: ["${K.day}"] }
  - { id: search-app, plan: searches, service: books, keys: ["${K.search}"] }
  - { id: burst-app, plan: burst, keys: ["${K.burst}"] }
routes:
  - name: api
    match: { prefix: /api/ }
    upstream: app
    policies: [{ auth: { apiKey: {}, service: books } }, rate-limit, usage]
  - name: legacy
    match: { prefix: /legacy/ }
    upstream: app
    policies: [{ auth: { apiKey: {} } }, { rate-limit: { legacyHeaders: true, headers: false } }]
  - name: public
    match: { prefix: /public/ }
    upstream: app
    policies: [{ rate-limit: { limits: [{ per: minute, max: 2, by: ip }] } }]
`);
  store = await openStore(`sqlite:${db}`);
}

const get = (path: string, key?: string) => send(gw.url, { path, headers: key ? { 'x-api-key': key } : {} });

async function statuses(n: number, path: string, key?: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await get(path, key)).status);
  return out;
}

describe('rate-limit: plans', () => {
  it('a plan of 3 hits per minute admits 3, then answers 429 with Retry-After until the next minute', async () => {
    await awayFromMinuteBoundary();
    await boot();
    expect(await statuses(3, '/api/x', K.minute)).toEqual([200, 200, 200]);
    const r = await get('/api/x', K.minute);
    expect(r.status).toBe(429);
    expect(r.json()).toMatchObject({ code: 'TG_RATE_LIMITED', error: 'Rate limit exceeded: at most 3 hits per minute.' });
    const retry = Number(r.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60);
    expect(r.headers['ratelimit']).toMatch(/^"hits-minute";r=0;t=\d+$/);
  });

  it('RateLimit-Policy lists every limit of the plan and RateLimit counts down the tightest', async () => {
    await awayFromMinuteBoundary();
    await boot();
    const first = await get('/api/x', K.minute);
    expect(first.headers['ratelimit-policy']).toBe('"hits-minute";q=3;w=60, "hits-day";q=1000;w=86400');
    expect(first.headers['ratelimit']).toMatch(/^"hits-minute";r=2;t=\d+$/);
    expect((await get('/api/x', K.minute)).headers['ratelimit']).toMatch(/^"hits-minute";r=1;/);
  });

  it('each application has its own plan and its own counters', async () => {
    await awayFromMinuteBoundary();
    await boot();
    expect(await statuses(3, '/api/x', K.day)).toEqual([200, 200, 429]);
    expect(await statuses(3, '/api/x', K.minute)).toEqual([200, 200, 200]);
  });

  it('a day limit answers Retry-After up to the next UTC midnight', async () => {
    await boot();
    await statuses(2, '/api/x', K.day);
    const r = await get('/api/x', K.day);
    const toMidnight = Math.ceil((86_400_000 - (Date.now() % 86_400_000)) / 1000);
    expect(r.status).toBe(429);
    expect(Math.abs(Number(r.headers['retry-after']) - toMidnight)).toBeLessThanOrEqual(2);
  });

  it('mapping rules: a limit on a custom metric refuses only the requests that count it', async () => {
    await awayFromMinuteBoundary();
    await boot();
    expect(await statuses(3, '/api/search?q=dune', K.search)).toEqual([200, 200, 429]);
    expect(await statuses(2, '/api/other', K.search)).toEqual([200, 200]);
  });

  it('a throttle (2 per minute, sliding) refuses the third request', async () => {
    await awayFromMinuteBoundary();
    await boot();
    expect(await statuses(3, '/api/x', K.burst)).toEqual([200, 200, 429]);
  });

  it('legacy X-RateLimit-* headers on request', async () => {
    await awayFromMinuteBoundary();
    await boot();
    const r = await get('/legacy/x', K.minute);
    expect(r.headers['x-ratelimit-limit']).toBe('3');
    expect(r.headers['x-ratelimit-remaining']).toBe('2');
    expect(Number(r.headers['x-ratelimit-reset'])).toBeGreaterThan(0);
    expect(r.headers['ratelimit']).toBeUndefined();
  });
});

describe('rate-limit: route limits', () => {
  it('2 per minute per client IP without any auth', async () => {
    await awayFromMinuteBoundary();
    await boot();
    expect(await statuses(3, '/public/x')).toEqual([200, 200, 429]);
  });
});

describe('usage', () => {
  it('counts admitted requests per application, metric and period; refused ones are not counted', async () => {
    await awayFromMinuteBoundary();
    await boot();
    await statuses(4, '/api/search', K.search); // 2 admitted (search limit 2/minute), 2 refused
    await statuses(1, '/api/books/7', K.search); // a rule counting hits 2
    await gw.gateway.shutdown(); // flushes
    const rows = await store.getUsage('search-app', { period: 'minute' });
    const byMetric = Object.fromEntries(rows.map((r) => [r.metric, r.value]));
    expect(byMetric).toEqual({ hits: 4, search: 2 });
    const eternity = await store.getUsage('search-app', { period: 'eternity' });
    expect(eternity.find((r) => r.metric === 'hits')?.value).toBe(4);
  });

  it('counters reach the store every flush interval while running', async () => {
    await boot();
    await statuses(3, '/api/x', K.day);
    let value = 0;
    for (let i = 0; i < 40 && value !== 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      value = (await store.getUsage('day-app', { period: 'day' })).find((r) => r.metric === 'hits')?.value ?? 0;
    }
    expect(value).toBe(2);
  });
});
