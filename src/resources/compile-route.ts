/**
 * Compiling a route's `resource:` block (called by src/config/compile.ts): checks it against the declared
 * resource and the route's pattern, decides the methods (the router answers others with 405), and creates
 * the hooks that end the route's chain.
 */
import type { Config, RouteConfig } from '../config/schema.js';
import type { PolicyHooks, PolicyServices } from '../policies/types.js';
import { createResourceRoute } from './route.js';
import type { ResourceServe } from './schema.js';
import type { Key } from './types.js';

/** Runs after every policy: the chain's answer. */
export const RESOURCE_PRIORITY = -1_000_000;

const METHODS: Record<ResourceServe, string[]> = {
  list: ['GET', 'HEAD', 'POST'],
  item: ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'],
  create: ['POST'],
  update: ['POST'],
};

function patternParams(route: RouteConfig): string[] {
  return [...(route.match.pattern ?? '').matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
}

interface Resolved {
  serve: ResourceServe;
  param: string;
  methods: string[];
}

function resolve(route: RouteConfig, config: Config): Resolved | undefined {
  const r = route.resource;
  const resource = r && config.resources[r.name];
  if (!r || !resource) return undefined;
  const param = r.param ?? (patternParams(route).includes(resource.key) ? resource.key : 'id');
  const serve = r.serve ?? (patternParams(route).includes(param) ? 'item' : 'list');
  const supported = r.field ? ['GET', 'HEAD'] : METHODS[serve];
  const methods = route.match.methods ? [...route.match.methods] : [...supported];
  if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  if (!methods.includes('OPTIONS')) methods.push('OPTIONS');
  return { serve, param, methods };
}

/** Routes answering the same path (same match and host) share one Allow list. */
function pathKey(route: RouteConfig): string {
  const m = route.match;
  return JSON.stringify([m.path, m.prefix, m.pattern, m.host]);
}

export interface CompiledResourceRoute {
  hooks: PolicyHooks;
  methods: string[];
  /** Set when the route writes without a cache policy while other routes cache the resource's reads. */
  warning?: string;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Policy kinds a route lists (named blocks resolved to their policy). */
function policyKinds(config: Config, route: RouteConfig): string[] {
  return route.policies.flatMap((ref) => {
    if (typeof ref === 'string') return config.policies[ref] ? Object.keys(config.policies[ref]) : [ref];
    return ref && typeof ref === 'object' ? Object.keys(ref) : [];
  });
}

/**
 * The hooks and methods of route `index`, or undefined after reporting its problems. `publicUrl` is the
 * configured one ('' when unset: absolute URLs then use the request's Host).
 */
export function compileResourceRoute(
  config: Config,
  index: number,
  services: PolicyServices,
  problem: (path: (string | number)[], message: string) => void,
): CompiledResourceRoute | undefined {
  const route = config.routes[index];
  const r = route.resource!;
  const at = ['routes', index, 'resource'];
  const resource = config.resources[r.name];
  if (!resource) {
    problem([...at, 'name'], `unknown resource ${JSON.stringify(r.name)}: expected one of ${Object.keys(config.resources).join(', ') || '(no resources declared)'}`);
    return undefined;
  }
  const resolved = resolve(route, config)!;
  const { serve, param } = resolved;
  const params = patternParams(route);
  let bad = false;
  const report = (path: (string | number)[], message: string) => {
    bad = true;
    problem(path, message);
  };
  if ((serve === 'item' || serve === 'update') && !params.includes(param)) report([...at, 'param'], `serve ${serve} needs the key in the path: expected a match.pattern with :${param}`);
  if (serve === 'create' || serve === 'update') {
    for (const p of params) if (p !== param && !resource.fields[p]) report(['routes', index, 'match', 'pattern'], `:${p} is not a field of resource ${r.name}: expected one of ${Object.keys(resource.fields).join(', ')}`);
  }
  const supported = [...(r.field ? ['GET', 'HEAD'] : METHODS[serve]), 'OPTIONS'];
  for (const m of route.match.methods ?? []) if (!supported.includes(m)) report(['routes', index, 'match', 'methods'], `${m} is not served by this ${serve}${r.field ? ' field' : ''} route: expected some of ${supported.join(', ')}`);
  let field: string[] | undefined;
  if (r.field !== undefined) {
    field = r.field.split('.');
    const top = resource.fields[field[0]];
    if (serve !== 'item') report([...at, 'field'], 'field is for item routes only');
    else if (!top) report([...at, 'field'], `unknown field ${JSON.stringify(field[0])}: expected one of ${Object.keys(resource.fields).join(', ')}`);
    else if (field.length > 1 && top.type !== 'json') report([...at, 'field'], `${field[0]} is of type ${top.type}: only json fields have nested paths`);
  }
  if (bad) return undefined;

  // Allow: every method of the resource routes answering this same path.
  const allow = new Set<string>();
  config.routes.forEach((other, j) => {
    if (!other.resource || pathKey(other) !== pathKey(route)) return;
    for (const m of (j === index ? resolved : resolve(other, config))?.methods ?? []) allow.add(m);
  });

  const hooks = createResourceRoute({
    serve,
    table: () => services.resources?.get(r.name),
    param,
    field,
    allow: [...allow],
    itemPath: itemPathOf(config, r.name),
    publicUrl: config.publicUrl.replace(/\/+$/, ''),
    maxBodySize: route.maxBodySize,
  });
  // Invalidation runs in the write route's cache policy: without one, cached reads stay stale until they expire.
  let warning: string | undefined;
  const cachedElsewhere = config.routes.some((o) => o.resource?.name === r.name && policyKinds(config, o).includes('cache'));
  if (resolved.methods.some((m) => WRITES.has(m)) && cachedElsewhere && !policyKinds(config, route).includes('cache')) {
    warning = `route ${route.name ?? `route-${index}`} writes to resource ${r.name} without a cache policy: its writes cannot invalidate the resource's cached reads (add the cache policy to this route too)`;
  }
  return { hooks, methods: resolved.methods, warning };
}

/** Where one record of `name` lives (for Location): its first item route without a field, if any. */
function itemPathOf(config: Config, name: string): ((key: Key) => string) | undefined {
  for (const route of config.routes) {
    if (route.resource?.name !== name || route.resource.field !== undefined) continue;
    const resolved = resolve(route, config);
    const pattern = route.match.pattern;
    if (!resolved || resolved.serve !== 'item' || !pattern) continue;
    if (patternParams(route).some((p) => p !== resolved.param) || pattern.endsWith('*')) continue;
    return (key) => pattern.replace(`:${resolved.param}`, encodeURIComponent(String(key)));
  }
  return undefined;
}

/**
 * Paths a successful write on route `index` makes stale, for its cache policy's `invalidate` (write-through):
 * the list routes of the same resource (every page: any query) and its item and nested routes whose :params
 * this route has (the record it wrote). A created record's own path is its Location, which the cache
 * invalidates anyway (RFC 9111 §4.4).
 */
export function resourceInvalidations(config: Config, index: number): string[] {
  const route = config.routes[index];
  const name = route.resource?.name;
  if (!name || !config.resources[name]) return [];
  const own = new Set(patternParams(route));
  const out = new Set<string>();
  for (const other of config.routes) {
    if (other.resource?.name !== name) continue;
    const p = other.match.path ?? other.match.pattern;
    if (p === undefined || p.endsWith('*')) continue;
    if (patternParams(other).every((x) => own.has(x))) out.add(p);
  }
  return [...out];
}
