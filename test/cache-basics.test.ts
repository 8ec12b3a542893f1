import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send } from './helpers/gateway.js';
import { CONSUMER_FIXTURE, cachedRoute } from './helpers/cache.js';

afterEach(closeAll);

let counter = 0;
const fresh = (cc = 'public, max-age=60', extra: Record<string, string> = {}) => (_req: unknown, res: ServerResponse) => {
  counter++;
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': cc, ...extra });
  res.end(JSON.stringify({ n: counter }));
};

describe('cache: hits and misses', () => {
  it('answers the second GET from the cache without asking the upstream', async () => {
    const { gw, hits } = await cachedRoute(fresh());
    const a = await send(gw.url, { path: '/things/1' });
    const b = await send(gw.url, { path: '/things/1' });
    expect(hits('/things/1')).toBe(1);
    expect(a.headers['x-cache']).toBe('MISS');
    expect(a.headers['cache-status']).toMatch(/^tollgate; fwd=uri-miss; stored$/);
    expect(b.headers['x-cache']).toBe('HIT');
    expect(b.headers['cache-status']).toMatch(/^tollgate; hit; ttl=\d+$/);
    expect(b.headers['age']).toMatch(/^\d+$/);
    expect(b.body.toString()).toBe(a.body.toString());
    expect(b.headers['content-length']).toBe(String(a.body.length));
    expect(b.headers['x-request-id']).toBeTruthy();
    expect(b.headers['x-request-id']).not.toBe(a.headers['x-request-id']);
  });

  it('serves HEAD from the GET entry', async () => {
    const { gw, hits } = await cachedRoute(fresh());
    await send(gw.url, { path: '/h' });
    const head = await send(gw.url, { path: '/h', method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['x-cache']).toBe('HIT');
    expect(head.body.length).toBe(0);
    expect(hits()).toBe(1);
  });

  it.each([
    ['no-store', 'no-store', {}],
    ['private', 'private, max-age=60', {}],
    ['Set-Cookie', 'public, max-age=60', { 'set-cookie': 'sid=1' }],
    ['no freshness and no validators', '', {}],
  ])('never stores a response with %s', async (_what, cc, extra) => {
    const headers: Record<string, string> = { ...extra };
    if (cc) headers['cache-control'] = cc;
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, headers);
      res.end('x');
    });
    await send(gw.url, { path: '/p' });
    const second = await send(gw.url, { path: '/p' });
    expect(hits()).toBe(2);
    expect(second.headers['x-cache']).toBe('MISS');
    expect(second.headers['cache-status']).not.toContain('stored');
  });

  it('stores Set-Cookie responses without the cookie when setCookie: strip', async () => {
    const { gw, hits } = await cachedRoute(fresh('public, max-age=60', { 'set-cookie': 'sid=secret' }), '{ setCookie: strip }');
    const a = await send(gw.url, { path: '/c' });
    const b = await send(gw.url, { path: '/c' });
    expect(a.headers['set-cookie']).toEqual(['sid=secret']);
    expect(b.headers['x-cache']).toBe('HIT');
    expect(b.headers['set-cookie']).toBeUndefined();
    expect(hits()).toBe(1);
  });

  it('does not store error statuses, except those configured for negative caching', async () => {
    const { gw, hits } = await cachedRoute((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 500, { 'cache-control': 'public, max-age=60' });
      res.end('nope');
    }, '{ negative: { "404": 30s } }');
    await send(gw.url, { path: '/missing' });
    const again = await send(gw.url, { path: '/missing' });
    expect(again.status).toBe(404);
    expect(again.headers['x-cache']).toBe('HIT');
    await send(gw.url, { path: '/broken' });
    await send(gw.url, { path: '/broken' });
    expect(hits('/missing')).toBe(1);
    expect(hits('/broken')).toBe(2);
  });

  it('uses a fixed ttl for an upstream that sends no freshness, and can ignore its no-cache', async () => {
    const { gw, hits } = await cachedRoute((_req, res) => {
      res.writeHead(200, { 'cache-control': 'no-cache' });
      res.end('bad headers');
    }, '{ ttl: 1m, ignoreNoCache: true }');
    await send(gw.url, { path: '/x' });
    const b = await send(gw.url, { path: '/x' });
    expect(b.headers['x-cache']).toBe('HIT');
    expect(hits()).toBe(1);
  });

  it('keeps Vary variants apart and serves each from the cache', async () => {
    const { gw, hits } = await cachedRoute((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept', 'content-type': String(req.headers.accept) });
      res.end(`as ${req.headers.accept}`);
    });
    const json1 = await send(gw.url, { path: '/v', headers: { accept: 'application/json' } });
    const xml1 = await send(gw.url, { path: '/v', headers: { accept: 'application/xml' } });
    const json2 = await send(gw.url, { path: '/v', headers: { accept: 'application/json' } });
    const xml2 = await send(gw.url, { path: '/v', headers: { accept: 'application/xml' } });
    expect(hits()).toBe(2);
    expect(json2.body.toString()).toBe('as application/json');
    expect(xml2.body.toString()).toBe('as application/xml');
    expect([json1.headers['x-cache'], xml1.headers['x-cache'], json2.headers['x-cache'], xml2.headers['x-cache']]).toEqual(['MISS', 'MISS', 'HIT', 'HIT']);
  });

  it('normalizes query parameter order only when asked to', async () => {
    const plain = await cachedRoute(fresh());
    await send(plain.gw.url, { path: '/s?a=1&b=2' });
    await send(plain.gw.url, { path: '/s?b=2&a=1' });
    expect(plain.hits()).toBe(2);
    const sorted = await cachedRoute(fresh(), '{ key: { sortQuery: true } }');
    await send(sorted.gw.url, { path: '/s?a=1&b=2' });
    const b = await send(sorted.gw.url, { path: '/s?b=2&a=1' });
    expect(b.headers['x-cache']).toBe('HIT');
    expect(sorted.hits()).toBe(1);
  });

  it('keeps consumers apart and never serves a consumer entry to an unauthenticated request', async () => {
    const { gw, hits } = await cachedRoute((req, res) => {
      res.writeHead(200, { 'cache-control': 'public, max-age=60' });
      res.end(`for ${req.headers['x-test-consumer'] ?? 'anonymous'}`);
    }, '{}', { extraPolicies: [`custom: { module: "${CONSUMER_FIXTURE}", priority: 1000 }`] });
    const alice = await send(gw.url, { path: '/me', headers: { 'x-test-consumer': 'alice' } });
    const bob = await send(gw.url, { path: '/me', headers: { 'x-test-consumer': 'bob' } });
    const anon = await send(gw.url, { path: '/me' });
    const alice2 = await send(gw.url, { path: '/me', headers: { 'x-test-consumer': 'alice' } });
    expect(alice.body.toString()).toBe('for alice');
    expect(bob.body.toString()).toBe('for bob');
    expect(anon.body.toString()).toBe('for anonymous');
    expect(alice2.body.toString()).toBe('for alice');
    expect(alice2.headers['x-cache']).toBe('HIT');
    expect(hits()).toBe(3);
  });

  it('shares entries between consumers on a shared route, still not with unauthenticated requests', async () => {
    const { gw, hits } = await cachedRoute(fresh(), '{ shared: true }', { extraPolicies: [`custom: { module: "${CONSUMER_FIXTURE}", priority: 1000 }`] });
    await send(gw.url, { path: '/list', headers: { 'x-test-consumer': 'alice' } });
    const bob = await send(gw.url, { path: '/list', headers: { 'x-test-consumer': 'bob' } });
    const anon = await send(gw.url, { path: '/list' });
    expect(bob.headers['x-cache']).toBe('HIT');
    expect(anon.headers['x-cache']).toBe('MISS');
    expect(hits()).toBe(2);
  });

  it('does not store answers to requests carrying the client\'s own Authorization unless the upstream says public', async () => {
    const { gw, hits } = await cachedRoute((req, res) => {
      res.writeHead(200, { 'cache-control': req.url === '/public' ? 'public, max-age=60' : 'max-age=60' });
      res.end('x');
    });
    await send(gw.url, { path: '/mine', headers: { authorization: 'Bearer a' } });
    await send(gw.url, { path: '/mine', headers: { authorization: 'Bearer a' } });
    await send(gw.url, { path: '/public', headers: { authorization: 'Bearer a' } });
    await send(gw.url, { path: '/public', headers: { authorization: 'Bearer a' } });
    expect(hits('/mine')).toBe(2);
    expect(hits('/public')).toBe(1);
  });

  it('marks requests it does not cache as BYPASS', async () => {
    const { gw } = await cachedRoute(fresh());
    const post = await send(gw.url, { path: '/things', method: 'POST', body: '{}' });
    expect(post.headers['x-cache']).toBe('BYPASS');
    expect(post.headers['cache-status']).toBe('tollgate; fwd=bypass');
    expect(post.headers['age']).toBe('0');
  });
});
