import { beforeAll, describe, expect, it } from 'vitest';
import { assess, etagMatches, loadFreshness, mergeNotModified, notModified } from './freshness.js';
import { cacheSchema } from './schema.js';

const opts = (o: Record<string, unknown> = {}) => cacheSchema.parse(o);
const req = { method: 'GET', url: '/x', headers: {} };
const NOW = 1_700_000_000_000;

beforeAll(loadFreshness);

describe('freshness (RFC 9111)', () => {
  it('takes freshness from max-age, and s-maxage over it for a shared cache', () => {
    expect(assess(opts(), req, 200, { 'cache-control': 'max-age=60' }, NOW).state.freshUntil).toBe(NOW + 60_000);
    expect(assess(opts(), req, 200, { 'cache-control': 'max-age=60, s-maxage=10' }, NOW).state.freshUntil).toBe(NOW + 10_000);
  });

  it('subtracts the Age the response already has', () => {
    const a = assess(opts(), req, 200, { 'cache-control': 'max-age=60', age: '50' }, NOW);
    expect(a.state.freshUntil).toBe(NOW + 10_000);
    expect(a.state.initialAge).toBe(50);
  });

  it('uses heuristic freshness only when enabled', () => {
    const h = { 'last-modified': new Date(NOW - 100_000_000).toUTCString(), date: new Date(NOW).toUTCString() };
    expect(assess(opts(), req, 200, h, NOW).state.freshUntil).toBe(NOW);
    expect(assess(opts({ heuristic: true }), req, 200, h, NOW).state.freshUntil).toBeGreaterThan(NOW);
  });

  it('opens stale windows from directives or route defaults, and closes them on must-revalidate', () => {
    const a = assess(opts({ staleIfError: '1h' }), req, 200, { 'cache-control': 'max-age=10, stale-while-revalidate=30' }, NOW);
    expect(a.state.swrUntil).toBe(NOW + 40_000);
    expect(a.state.sieUntil).toBe(NOW + 10_000 + 3_600_000);
    expect(a.deleteAt).toBe(a.state.sieUntil);
    const m = assess(opts({ staleIfError: '1h' }), req, 200, { 'cache-control': 'max-age=10, must-revalidate' }, NOW);
    expect(m.state.sieUntil).toBe(m.state.freshUntil);
  });

  it('keeps responses with validators for revalidation even with no-cache', () => {
    const a = assess(opts(), req, 200, { 'cache-control': 'no-cache', etag: '"1"' }, NOW);
    expect(a.storable).toBe(true);
    expect(a.state.freshUntil).toBe(NOW);
    expect(a.deleteAt).toBe(NOW + 3_600_000);
  });

  it('refuses 206, unconfigured errors, Vary: *, and requests with no-store', () => {
    expect(assess(opts(), req, 206, { 'cache-control': 'max-age=60' }, NOW).storable).toBe(false);
    expect(assess(opts(), req, 404, { 'cache-control': 'max-age=60' }, NOW).storable).toBe(false);
    expect(assess(opts({ negative: { 404: '30s' } }), req, 404, {}, NOW).state.freshUntil).toBe(NOW + 30_000);
    expect(assess(opts(), req, 200, { 'cache-control': 'max-age=60', vary: '*' }, NOW).storable).toBe(false);
    expect(assess(opts(), { ...req, headers: { 'cache-control': 'no-store' } }, 200, { 'cache-control': 'max-age=60' }, NOW).storable).toBe(false);
  });

  it('compares entity tags weakly for If-None-Match', () => {
    expect(etagMatches('W/"a", "b"', '"a"')).toBe(true);
    expect(etagMatches('*', '"x"')).toBe(true);
    expect(etagMatches('"c"', '"a"')).toBe(false);
    expect(notModified({ 'if-modified-since': 'Wed, 01 Jan 2025 00:00:00 GMT' }, { v: 1, freshUntil: 0, swrUntil: 0, sieUntil: 0, initialAge: 0, lastModified: 'Tue, 31 Dec 2024 00:00:00 GMT' })).toBe(true);
  });

  it('updates stored headers from a 304 but keeps those describing the body', () => {
    const merged = mergeNotModified([['content-type', 'text/plain'], ['cache-control', 'max-age=1'], ['etag', '"1"']], { 'cache-control': 'max-age=60', 'content-type': 'text/html' }, new Set());
    expect(merged).toContainEqual(['cache-control', 'max-age=60']);
    expect(merged).toContainEqual(['content-type', 'text/plain']);
    expect(merged).toContainEqual(['etag', '"1"']);
  });
});
