/**
 * Compiling a validated config into the immutable snapshot the data plane serves: upstream pools, route
 * matchers, and each route's policy chain, created once. Policy option errors are config errors, reported
 * with file, line and key path like schema errors.
 */
import { BlockList, isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { builtinPolicies } from '../policies/index.js';
import { declaredPriority } from '../policies/custom/policy.js';
import { buildOpenApi, gatewayOperations } from '../docs/openapi.js';
import type { ApiInput } from '../docs/openapi.js';
import { publicDocsRoutes, routesShadowingDocs } from '../docs/routes.js';
import type { CredentialLocations, PolicyDefinition, PolicyServices, Reply } from '../policies/types.js';
import { compileHostMatcher, compilePathMatcher, indexRoutes } from '../proxy/router.js';
import type { PathMatch } from '../proxy/router.js';
import { compilePhases } from '../proxy/pipeline.js';
import { endpointRoute } from '../proxy/snapshot.js';
import type { ChainEntry, CompiledRoute, Snapshot } from '../proxy/snapshot.js';
import { compileRedirects } from '../proxy/redirects.js';
import { UpstreamClient } from '../proxy/upstream.js';
import { RESOURCE_PRIORITY, compileResourceRoute, resourceInvalidations } from '../resources/compile-route.js';
import { ConfigError, zodProblems } from './load.js';
import type { ConfigProblem, KeyPath, LoadedConfig, PartialConfig } from './load.js';
import type { Config, RouteConfig } from './schema.js';

export interface CompileOptions {
  log: Logger;
  services?: PolicyServices;
  /** The snapshot being replaced: upstream pools with identical settings are reused. */
  previous?: Snapshot;
  /** Policy definitions to compile against (default: the built-ins). */
  policies?: readonly PolicyDefinition[];
}

const REDACTED = '[redacted]';
/** What a policy on a route whose upstream is unknown is created with, so its own option errors still show. */
const UNKNOWN_UPSTREAM_URL = 'http://unknown-upstream.invalid';

function buildTrustedProxies(list: string[], problems: ConfigProblem[], loaded: LoadedConfig): BlockList | undefined {
  if (!list.length) return undefined;
  const bl = new BlockList();
  list.forEach((entry, i) => {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr);
    if (!family || (bits !== undefined && !/^\d+$/.test(bits))) {
      const path = ['listen', 'trustedProxies', i];
      problems.push({ file: loaded.source.file, line: loaded.source.lineOf(path), path, message: `expected an IP address or CIDR range, got ${JSON.stringify(entry)}` });
      return;
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) bl.addAddress(addr, type);
    else bl.addSubnet(addr, Number(bits), type);
  });
  return bl;
}

function buildRewrite(template: string): (m: PathMatch) => string {
  const parts = template.split(/(:[A-Za-z_][A-Za-z0-9_]*|\*)/);
  return (m) => {
    let out = '';
    for (const p of parts) {
      if (p === '*') out += m.rest.split('/').map(encodeURIComponent).join('/');
      else if (p.startsWith(':') && p.length > 1) out += encodeURIComponent(m.params[p.slice(1)] ?? '');
      else out += p;
    }
    return out.replace(/\/{2,}/g, '/');
  };
}

function buildRespond(r: NonNullable<RouteConfig['respond']>): Reply {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k.toLowerCase()] = v;
  let body: Buffer | undefined;
  if (r.json !== undefined) {
    body = Buffer.from(JSON.stringify(r.json));
    headers['content-type'] ??= 'application/json; charset=utf-8';
  } else if (r.body !== undefined) {
    body = Buffer.from(r.body);
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  }
  headers['content-length'] = String(body?.length ?? 0);
  return { status: r.status, headers, body: body ?? null };
}

/** Secrets shorter than this are not redacted as substrings (too many false hits); they are still never logged by name. */
const MIN_SECRET = 4;

function buildRedactors(secrets: Set<string>, redactQuery: string[]) {
  const list = [...secrets].filter((s) => s.length >= MIN_SECRET).sort((a, b) => b.length - a.length);
  const encoded = list.map((s) => encodeURIComponent(s)).filter((e, i) => e !== list[i]);
  const all = [...list, ...encoded];
  const names = new Set(redactQuery.map((n) => n.toLowerCase()));
  const redactText = (text: string): string => {
    if (!all.length || !text) return text;
    let out = text;
    for (const s of all) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };
  const redactUrl = (url: string): string => {
    const q = url.indexOf('?');
    let out = url;
    if (q !== -1 && names.size) {
      const parts = url.slice(q + 1).split('&');
      let changed = false;
      for (let i = 0; i < parts.length; i++) {
        const eq = parts[i].indexOf('=');
        const name = (eq === -1 ? parts[i] : parts[i].slice(0, eq)).toLowerCase();
        if (eq !== -1 && names.has(name)) {
          parts[i] = parts[i].slice(0, eq + 1) + REDACTED;
          changed = true;
        }
      }
      if (changed) out = url.slice(0, q + 1) + parts.join('&');
    }
    return redactText(out);
  };
  return { redactText, redactUrl };
}

interface ResolvedPolicy {
  def: PolicyDefinition;
  options: unknown;
  label: string;
  path: KeyPath;
}

function resolvePolicyRef(
  ref: string | Record<string, unknown>,
  path: KeyPath,
  config: Config,
  defs: readonly PolicyDefinition[],
  problems: ConfigProblem[],
  loaded: LoadedConfig,
  named: Map<string, ResolvedPolicy | undefined>,
): ResolvedPolicy | undefined {
  // A named block is validated once, however many routes use it.
  if (typeof ref === 'string' && config.policies[ref]) {
    if (!named.has(ref)) named.set(ref, resolveBlock(ref, path, config, defs, problems, loaded));
    return named.get(ref);
  }
  return resolveBlock(ref, path, config, defs, problems, loaded);
}

function resolveBlock(
  ref: string | Record<string, unknown>,
  path: KeyPath,
  config: Config,
  defs: readonly PolicyDefinition[],
  problems: ConfigProblem[],
  loaded: LoadedConfig,
): ResolvedPolicy | undefined {
  const problem = (p: KeyPath, message: string) => problems.push({ file: loaded.source.file, line: loaded.source.lineOf(p), path: p, message });
  const known = () => defs.map((d) => d.name).join(', ');
  let block: Record<string, unknown>;
  let blockPath: KeyPath;
  let label: string;
  if (typeof ref === 'string') {
    const named = config.policies[ref];
    if (named) {
      block = named;
      blockPath = ['policies', ref];
      label = ref;
    } else if (defs.some((d) => d.name === ref)) {
      block = { [ref]: {} };
      blockPath = path;
      label = ref;
    } else if ((loaded as Partial<PartialConfig>).droppedPolicies?.has(ref)) {
      // Its block had schema problems, already reported.
      return undefined;
    } else {
      problem(path, `unknown policy ${JSON.stringify(ref)}: expected a name under policies: (${Object.keys(config.policies).join(', ') || 'none defined'}) or a built-in policy (${known()})`);
      return undefined;
    }
  } else {
    block = ref;
    blockPath = path;
    label = '';
  }
  const keys = Object.keys(block);
  if (keys.length !== 1) {
    problem(blockPath, `expected exactly one policy per entry, like { cache: { ttl: 5m } }, got ${keys.length ? keys.join(', ') : 'an empty mapping'}`);
    return undefined;
  }
  const name = keys[0];
  const def = defs.find((d) => d.name === name);
  if (!def) {
    problem([...blockPath, name], `unknown policy ${JSON.stringify(name)}: expected one of ${known()}`);
    return undefined;
  }
  const parsed = (def.schema).safeParse(block[name] ?? {});
  if (!parsed.success) {
    problems.push(...zodProblems(parsed.error, loaded.source, [...blockPath, name]));
    return undefined;
  }
  return { def, options: parsed.data, label: label && label !== name ? `${label} (${name})` : name, path: [...blockPath, name] };
}

/** Validates what the schema alone cannot (references between sections) and builds the snapshot. */
export async function compileConfig(loaded: LoadedConfig, opts: CompileOptions): Promise<Snapshot> {
  const { config } = loaded;
  const defs = opts.policies ?? builtinPolicies;
  const problems: ConfigProblem[] = [];
  const problem = (path: KeyPath, message: string) => problems.push({ file: loaded.source.file, line: loaded.source.lineOf(path), path, message });
  const configDir = dirname(resolve(loaded.source.file));
  const secrets = new Set(loaded.secrets);
  const scheme = config.listen.tls ? 'https' : 'http';
  const publicUrl = (config.publicUrl || `${scheme}://${config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host}:${config.listen.port}`).replace(/\/+$/, '');

  const trustedProxies = buildTrustedProxies(config.listen.trustedProxies, problems, loaded);

  // An invalid config's valid rest (tollgate check): its placeholder routes and dropped names are not re-reported.
  const partial = loaded as Partial<PartialConfig>;
  const named = new Map<string, ResolvedPolicy | undefined>();
  // Resolve everything first, so one run reports every problem.
  const resolved = config.routes.map((route, i) => {
    if (partial.skipRoutes?.has(i)) return [];
    if (route.upstream !== undefined && !config.upstreams[route.upstream] && !partial.droppedUpstreams?.has(route.upstream)) {
      problem(['routes', i, 'upstream'], `unknown upstream ${JSON.stringify(route.upstream)}: expected one of ${Object.keys(config.upstreams).join(', ') || '(no upstreams defined)'}`);
    }
    if (route.stripPrefix && route.match.prefix === undefined && route.match.pattern === undefined) {
      problem(['routes', i, 'stripPrefix'], 'stripPrefix needs a match.prefix or match.pattern');
    }
    return route.policies
      .map((ref, j) => resolvePolicyRef(ref, ['routes', i, 'policies', j], config, defs, problems, loaded, named))
      .filter((p): p is ResolvedPolicy => p !== undefined);
  });
  // No early exit on the problems so far: creating the valid policies finds their option errors (bad regex,
  // bad template) too, and everything created is closed again below when there are problems.

  const prevUpstreams = opts.previous?.upstreams;
  const upstreams = new Map<string, UpstreamClient>();
  for (const [name, cfg] of Object.entries(config.upstreams)) {
    const prev = prevUpstreams?.get(name);
    try {
      upstreams.set(name, prev && prev.key === JSON.stringify(cfg) ? prev : new UpstreamClient(name, cfg));
    } catch (e) {
      problem(['upstreams', name], (e as Error).message);
    }
    if (cfg.tls.insecureSkipVerify) opts.log.warn({ upstream: name }, 'TLS verification is disabled for this upstream (tls.insecureSkipVerify)');
  }

  const created: ChainEntry[] = [];
  const routes: CompiledRoute[] = [];
  // The OAuth2 endpoints go first, ahead of the routes (exact paths), each a route whose one policy answers.
  if (config.oauth2) {
    for (const r of await oauth2Routes(config.oauth2, { publicUrl, configDir, log: opts.log, services: opts.services ?? {} })) {
      routes.push(r);
      created.push(...r.chain);
    }
  }
  // Query names auth policies read credentials from are redacted in logged URLs, on every route.
  const credentialQuery: string[] = [];
  for (const [i, route] of config.routes.entries()) {
    const name = route.name ?? `route-${i}`;
    const upstream = route.upstream !== undefined ? upstreams.get(route.upstream) : undefined;
    const chain: ChainEntry[] = [];
    const credentialLocations: CredentialLocations = { query: new Set(), headers: new Set() };
    // Writes on a resource route invalidate the resource's cached lists, records and nested paths (write-through).
    const stale = route.resource ? resourceInvalidations(config, i) : [];
    for (const p of resolved[i]) {
      try {
        const options = stale.length && p.def.name === 'cache' ? { ...(p.options as { invalidate: string[] }), invalidate: [...(p.options as { invalidate: string[] }).invalidate, ...stale] } : p.options;
        const hooks = await p.def.create(options, {
          routeName: name,
          upstreamUrl: upstream?.targets[0].baseUrl ?? (route.upstream !== undefined ? UNKNOWN_UPSTREAM_URL : undefined),
          publicUrl,
          log: opts.log.child({ route: name, policy: p.def.name }),
          configDir,
          secret: (v) => {
            if (v) secrets.add(v);
          },
          services: opts.services ?? {},
          credentialLocations,
        });
        const priority = (p.options as { priority?: number } | undefined)?.priority ?? declaredPriority(hooks) ?? p.def.priority;
        const entry = { label: p.label, priority, hooks };
        chain.push(entry);
        created.push(entry);
      } catch (e) {
        problem(p.path, (e as Error).message);
      }
    }
    credentialQuery.push(...credentialLocations.query);
    // A resource route's chain ends in the resource, which answers every request (no upstream).
    const resource = route.resource ? compileResourceRoute(config, i, opts.services ?? {}, problem) : undefined;
    if (resource) chain.push({ label: `resource ${route.resource!.name}`, priority: RESOURCE_PRIORITY, hooks: resource.hooks });
    if (resource?.warning) opts.log.warn({ route: name }, resource.warning);
    // Stable: equal priorities keep the order written.
    chain.sort((a, b) => b.priority - a.priority);
    const m = route.match;
    const methods = resource?.methods ?? m.methods;
    routes.push({
      name,
      matchPath: compilePathMatcher(m),
      matchHost: compileHostMatcher(m.host),
      methods: methods ? new Set(methods) : undefined,
      upstream,
      respond: route.respond ? buildRespond(route.respond) : undefined,
      stripPrefix: route.stripPrefix,
      rewrite: route.rewrite ? buildRewrite(route.rewrite) : undefined,
      maxBodySize: route.maxBodySize,
      redirects: compileRedirects(upstream, route.rewriteRedirects, config.publicUrl, headersRewrittenByPolicy(resolved[i])),
      chain,
      phases: compilePhases(chain),
      describe: describeRoute(name, route, chain, methods),
    });
  }

  // The 3scale Service Management API: exact-path routes of its own, ahead of the configured ones.
  if (config.threescale.enabled) {
    const { threescaleRoutes } = await import('../policies/threescale/routes.js');
    const api = threescaleRoutes(config, opts.services?.consumers, opts.log.child({ route: '3scale' }));
    routes.unshift(...api.routes);
    credentialQuery.push(...api.credentialQuery);
    for (const s of api.secrets) secrets.add(s);
  }

  const api: ApiInput = {
    config,
    routes: config.routes.map((route, i) => ({ name: route.name ?? `route-${i}`, route, policies: resolved[i].map((p) => ({ name: p.def.name, options: p.options })) })),
  };
  // The consumer-facing docs: ahead of everything, and no configured route may match their paths.
  if (config.docs.public) {
    for (const s of await routesShadowingDocs(config)) {
      problem(['routes', s.index, 'match'], `matches ${s.path}, where the API docs are served (docs.path ${config.docs.path}): change docs.path or this route's match`);
    }
    const doc = buildOpenApi(api, { serverUrl: config.publicUrl.replace(/\/+$/, '') || '/', extra: gatewayOperations(config) });
    routes.unshift(...(await publicDocsRoutes(config, doc)));
  }

  const closeCreated = async () => {
    await Promise.all(created.map((c) => Promise.resolve(c.hooks.close?.()).catch(() => undefined)));
  };
  if (problems.length) {
    await closeCreated();
    for (const [name, u] of upstreams) if (prevUpstreams?.get(name) !== u) await u.close();
    throw new ConfigError(problems);
  }

  indexRoutes(routes);
  const { redactText, redactUrl } = buildRedactors(secrets, [...config.log.redactQuery, ...credentialQuery]);
  const snapshot: Snapshot = {
    config,
    routes,
    listen: {
      maxUrlLength: config.listen.maxUrlLength,
      allowQueryControlChars: config.listen.allowQueryControlChars,
      bodyIdleTimeout: config.listen.bodyIdleTimeout,
      trustedProxies,
      hostRouting: routes.some((r) => r.matchHost !== undefined),
    },
    upstreams,
    publicUrl,
    api,
    redactText,
    redactUrl,
    async retire(next) {
      await closeCreated();
      const keep = new Set(next ? [...next.upstreams.values()] : []);
      await Promise.all([...upstreams.values()].filter((u) => !keep.has(u)).map((u) => u.close()));
    },
  };
  return snapshot;
}

const OAUTH2_FALLBACK: Reply = { status: 500, headers: { 'content-type': 'application/json', 'content-length': '26' }, body: Buffer.from('{"error":"server_error"}\n\n') };

async function oauth2Routes(
  o: NonNullable<Config['oauth2']>,
  deps: { publicUrl: string; configDir: string; log: Logger; services: PolicyServices },
): Promise<CompiledRoute[]> {
  // Loaded only for a config with an `oauth2` block (it pulls in the OAuth2 server's model).
  const { oauth2EndpointPolicy } = await import('../policies/oauth2/policy.js');
  const out: CompiledRoute[] = [];
  for (const [endpoint, path] of [['token', o.tokenPath], ['revoke', o.revokePath], ['introspect', o.introspectPath]] as const) {
    const name = `oauth2-${endpoint}`;
    const options = oauth2EndpointPolicy.schema.parse({ endpoint, accessTokenLifetimeMs: o.accessTokenLifetime, refreshTokenLifetimeMs: o.refreshTokenLifetime, requireHttps: o.requireHttps,
      failedMax: o.failedAttempts.max,
      failedWindowMs: { second: 1_000, minute: 60_000, hour: 3_600_000 }[o.failedAttempts.per],
    });
    const hooks = await oauth2EndpointPolicy.create(options, {
      routeName: name,
      upstreamUrl: undefined,
      publicUrl: deps.publicUrl,
      log: deps.log.child({ route: name, policy: oauth2EndpointPolicy.name }),
      configDir: deps.configDir,
      secret: () => undefined,
      services: deps.services,
      credentialLocations: { query: new Set(), headers: new Set(['authorization']) },
    });
    out.push(
      endpointRoute({
        name,
        matchPath: compilePathMatcher({ path }),
        hooks,
        priority: oauth2EndpointPolicy.priority,
        maxBodySize: 64 * 1024,
        fallback: OAUTH2_FALLBACK,
        describe: `${name}: path ${path}, POST -> OAuth2 ${endpoint} endpoint\n    policies: ${name}[${oauth2EndpointPolicy.priority}]`,
      }),
    );
  }
  return out;
}

/** Response headers the route's rewrite-urls policies rewrite: the built-in redirect rewriting leaves them to it. */
function headersRewrittenByPolicy(policies: ResolvedPolicy[]): Set<string> {
  const out = new Set<string>();
  for (const p of policies) if (p.def.name === 'rewrite-urls') for (const h of (p.options as { headers: string[] }).headers) out.add(h.toLowerCase());
  return out;
}

function describeRoute(name: string, route: RouteConfig, chain: ChainEntry[], methodList: string[] | undefined): string {
  const m = route.match;
  const what = m.path !== undefined ? `path ${m.path}` : m.prefix !== undefined ? `prefix ${m.prefix}` : `pattern ${m.pattern}`;
  const methods = methodList ? methodList.join(',') : 'any method';
  const host = m.host ? ` host ${m.host}` : '';
  const target = route.respond ? `respond ${route.respond.status}` : route.resource ? `resource ${route.resource.name}` : `upstream ${route.upstream}`;
  const extra = [route.stripPrefix ? 'strip prefix' : '', route.rewrite ? `rewrite ${route.rewrite}` : ''].filter(Boolean).join(', ');
  const policies = chain.length ? chain.map((c) => `${c.label}[${c.priority}]`).join(' -> ') : '(no policies)';
  return `${name}: ${what}${host}, ${methods} -> ${target}${extra ? ` (${extra})` : ''}\n    policies: ${policies}`;
}
