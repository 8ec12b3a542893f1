/**
 * The route index answers exactly as trying every route in written order: on randomized route sets (exact
 * paths, prefixes with and without a trailing slash, :param and /* patterns, methods, hosts), for paths built
 * from the same segments, the indexed findRoute and the linear scan return the same route, match and Allow.
 */
import { describe, expect, it } from 'vitest';
import { compileHostMatcher, compilePathMatcher, findRoute, findRouteLinear, indexRoutes } from './router.js';
import type { RouteMatchSpec, Routable } from './router.js';

interface TestRoute extends Routable {
  id: number;
}

/** mulberry32: a small seeded generator, so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEGMENTS = ['a', 'b', 'api', 'v1', 'users', '42', 'x.y', ''];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const HOSTS = ['example.com', '*.example.com', 'other.org'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomPath(r: () => number, maxDepth = 4): string {
  const depth = Math.floor(r() * (maxDepth + 1));
  let p = '';
  for (let i = 0; i < depth; i++) p += '/' + pick(r, SEGMENTS);
  return p === '' ? '/' : p;
}

function randomSpec(r: () => number): RouteMatchSpec {
  const spec: RouteMatchSpec = {};
  const kind = r();
  if (kind < 0.3) spec.path = randomPath(r);
  else if (kind < 0.7) spec.prefix = randomPath(r, 3) + (r() < 0.4 ? '/' : '');
  else {
    const parts = randomPath(r, 3)
      .split('/')
      .slice(1)
      .map((s) => (r() < 0.35 ? ':p' + Math.floor(r() * 3) : s));
    if (r() < 0.3) parts.push('*');
    spec.pattern = '/' + [...new Set(parts)].join('/');
  }
  if (r() < 0.3) spec.methods = METHODS.filter(() => r() < 0.5);
  if (r() < 0.15) spec.host = pick(r, HOSTS);
  return spec;
}

function compile(specs: RouteMatchSpec[]): TestRoute[] {
  return specs.map((m, id) => ({
    id,
    matchPath: compilePathMatcher(m),
    matchHost: compileHostMatcher(m.host),
    methods: m.methods ? new Set(m.methods) : undefined,
  }));
}

function summary(found: ReturnType<typeof findRoute<TestRoute>>): unknown {
  if (!found) return undefined;
  if ('allow' in found) return { allow: found.allow };
  return { id: found.route.id, match: found.match };
}

describe('route index', () => {
  it('agrees with the linear scan on randomized route sets', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const count = 9 + Math.floor(r() * 60);
      const routes = compile(Array.from({ length: count }, () => randomSpec(r)));
      indexRoutes(routes);
      for (let q = 0; q < 60; q++) {
        const path = randomPath(r, 5) + (r() < 0.2 ? '/' : '');
        const method = pick(r, [...METHODS, 'HEAD', 'PATCH']);
        const host = pick(r, ['example.com', 'api.example.com', 'a.b.example.com', 'other.org', '']);
        const want = summary(findRouteLinear(routes, method, path, host));
        const got = summary(findRoute(routes, method, path, host));
        expect(got, `seed ${seed}: ${method} ${host}${path}`).toEqual(want);
      }
    }
  });

  it('keeps first-match-in-written-order across exact, prefix and pattern routes', () => {
    const routes = compile([
      ...Array.from({ length: 20 }, (_, i) => ({ prefix: `/filler${i}` })),
      { pattern: '/users/:id', methods: ['PUT'] },
      { prefix: '/users/', methods: ['POST'] },
      { path: '/users/7', methods: ['DELETE'] },
      { pattern: '/:any/7' },
      { path: '/users/7' },
    ]);
    const at = (method: string, path: string) => summary(findRoute(routes, method, path, ''));
    expect(at('PUT', '/users/7')).toMatchObject({ id: 20, match: { params: { id: '7' } } });
    expect(at('POST', '/users/7')).toMatchObject({ id: 21 });
    expect(at('DELETE', '/users/7')).toMatchObject({ id: 22 });
    expect(at('GET', '/users/7')).toMatchObject({ id: 23, match: { params: { any: 'users' } } });
    // Only method-restricted routes match: 405 with their methods, in written order.
    expect(at('GET', '/users/8')).toEqual({ allow: ['PUT', 'POST'] });
    expect(at('GET', '/nowhere')).toBeUndefined();
  });

  it('finds the last of 5000 prefix routes, and 405 lists its methods', () => {
    const routes = compile(Array.from({ length: 5000 }, (_, i) => ({ prefix: `/r${i}/`, methods: i === 4999 ? ['GET'] : undefined })));
    indexRoutes(routes);
    expect(summary(findRoute(routes, 'GET', '/r4999/x', ''))).toMatchObject({ id: 4999, match: { prefixLength: 7, rest: 'x' } });
    expect(findRoute(routes, 'POST', '/r4999/x', '')).toEqual({ allow: ['GET'] });
    expect(findRoute(routes, 'GET', '/r5000/x', '')).toBeUndefined();
  });
});
