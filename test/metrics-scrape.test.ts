/**
 * /metrics on the admin listener: after a known set of requests through the real gateway (real upstream,
 * SQLite store, memory cache), a scrape parsed as Prometheus text reports exactly those counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awayFromMinuteBoundary } from './helpers/clock.js';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import { parseExposition } from './helpers/prometheus.js';
import { startUpstream } from './helpers/upstream.js';

const KEY = 'metrics-app-key-0123456789';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-metrics-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(closeAll);

async function boot(extra = '') {
  const up = await startUpstream((req, res) => {
    if (req.url?.startsWith('/api/fail')) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      return void res.end('upstream says no');
    }
    if (req.url?.startsWith('/slow/')) return void setTimeout(() => res.end('late'), 1500);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=60' });
    res.end('{"ok":true}');
  });
  const db = join(dir, `m${Date.now()}${Math.random().toString(36).slice(2)}.db`);
  return startTestGateway(`
store: "sqlite:${db}"
limits: { refresh: 100ms, usageFlush: 100ms }
${extra}
upstreams:
  app: { url: "${up.url}" }
  slow: { url: "${up.url}", timeouts: { headers: 200ms } }
plans:
  basic: { limits: { hits: [{ per: minute, max: 1000 }] } }
applications:
  - { id: app-one, plan: basic, keys: ["${KEY}"] }
routes:
  - name: api
    match: { prefix: /api/ }
    upstream: app
  - name: keyed
    match: { prefix: /keyed/ }
    upstream: app
    policies: [{ auth: { apiKey: {} } }, usage]
  - name: public
    match: { prefix: /public/ }
    upstream: app
    policies: [{ rate-limit: { limits: [{ per: minute, max: 2, by: ip }], legacyHeaders: true } }]
  - name: cached
    match: { prefix: /cached/ }
    upstream: app
    policies: [{ cache: {} }]
  - name: slow
    match: { prefix: /slow/ }
    upstream: slow
`);
}

async function scrape(adminUrl: string) {
  const r = await send(adminUrl, { path: '/metrics' });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(r.body.toString());
}

describe('/metrics', () => {
  it('counts requests by route, method and status, latencies, upstream errors, cache answers and limiter refusals', async () => {
    await awayFromMinuteBoundary();
    const gw = await boot();
    const statuses: number[] = [];
    const go = async (path: string, method = 'GET', headers: Record<string, string> = {}) => statuses.push((await send(gw.url, { path, method, headers })).status);
    for (let i = 0; i < 3; i++) await go('/api/ok');
    await go('/api/ok', 'POST');
    await go('/api/fail');
    await go('/api/fail');
    await go('/nowhere');
    await go('/keyed/a', 'GET', { 'x-api-key': KEY });
    await go('/keyed/b', 'GET', { 'x-api-key': KEY });
    for (let i = 0; i < 3; i++) await go('/public/x');
    // The policy's own X-RateLimit-Remaining, which must not pass for the upstream's quota.
    const refused = await send(gw.url, { path: '/public/x' });
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    statuses.push(refused.status);
    await go('/cached/1');
    await go('/cached/1');
    await go('/slow/1');
    expect(statuses).toEqual([200, 200, 200, 200, 500, 500, 404, 200, 200, 200, 200, 429, 429, 200, 200, 504]);

    const m = await scrape(gw.adminUrl);
    expect(m.types.get('tollgate_http_requests_total')).toBe('counter');
    expect(m.types.get('tollgate_http_request_duration_seconds')).toBe('histogram');
    const req = (labels: Record<string, string>) => m.sum('tollgate_http_requests_total', labels);
    expect(req({ route: 'api', method: 'GET', code: '200' })).toBe(3);
    expect(req({ route: 'api', method: 'POST', code: '200' })).toBe(1);
    expect(req({ route: 'api', method: 'GET', code: '500' })).toBe(2);
    expect(req({ route: '(unmatched)', code: '404' })).toBe(1);
    expect(req({ route: 'public', code: '429' })).toBe(2);
    expect(req({ route: 'slow', code: '504' })).toBe(1);
    expect(req({})).toBe(statuses.length);

    // Histograms: every request once in the gateway's; the upstream's only for answers the upstream gave.
    expect(m.sum('tollgate_http_request_duration_seconds_count')).toBe(statuses.length);
    expect(m.sum('tollgate_http_request_duration_seconds_bucket', { route: 'api', le: '+Inf' })).toBe(6);
    expect(m.sum('tollgate_upstream_response_duration_seconds_count', { route: 'api' })).toBe(6);
    expect(m.sum('tollgate_upstream_response_duration_seconds_count', { route: 'cached' })).toBe(1);
    expect(m.sum('tollgate_upstream_response_duration_seconds_count', { route: 'slow' })).toBe(0);
    const slowBuckets = m.samples.filter((s) => s.name === 'tollgate_http_request_duration_seconds_bucket' && s.labels.route === 'slow');
    expect(slowBuckets.find((s) => s.labels.le === '0.1')?.value).toBe(0); // the 504 came after the 200 ms timeout
    expect(slowBuckets.find((s) => s.labels.le === '10')?.value).toBe(1);

    // An upstream 500 is the upstream's answer, not an upstream error; the timeout is both.
    expect(m.sum('tollgate_upstream_errors_total', { route: 'api' })).toBe(0);
    expect(m.sum('tollgate_upstream_errors_total', { route: 'slow' })).toBe(1);
    expect(m.sum('tollgate_upstream_timeouts_total', { route: 'slow' })).toBe(1);
    expect(m.sum('tollgate_rate_limit_rejections_total', { route: 'public' })).toBe(2);
    expect(m.sum('tollgate_rate_limit_rejections_total')).toBe(2);
    // The rate-limit policy's own RateLimit-Remaining is not taken for the upstream's quota.
    expect(m.samples.filter((s) => s.name === 'tollgate_upstream_ratelimit_remaining')).toEqual([]);

    expect(m.sum('tollgate_cache_requests_total', { result: 'miss' })).toBe(1);
    expect(m.sum('tollgate_cache_requests_total', { result: 'hit' })).toBe(1);
    expect(m.sum('tollgate_cache_served_bytes_total')).toBe('{"ok":true}'.length);
    expect(m.sum('tollgate_application_requests_total', { application: 'app-one' })).toBe(2);
    expect(m.types.get('tollgate_usage_flush_lag_seconds')).toBe('gauge');
    expect(m.samples.some((s) => s.name === 'tollgate_usage_flush_lag_seconds')).toBe(true);
    // prom-client's process metrics, event-loop lag among them.
    expect(m.samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('needs no token even when the admin listener has one; metrics: { enabled: false } turns it and the dashboard\'s data off', async () => {
    const on = await boot('admin: { token: "s3cret-admin-token" }');
    await send(on.url, { path: '/api/ok' });
    expect((await scrape(on.adminUrl)).sum('tollgate_http_requests_total')).toBe(1);
    const off = await boot('metrics: { enabled: false }');
    await send(off.url, { path: '/api/ok' });
    expect((await send(off.adminUrl, { path: '/metrics' })).status).toBe(404);
    expect((await send(off.adminUrl, { path: '/api/stats' })).status).toBe(404);
  });
});
