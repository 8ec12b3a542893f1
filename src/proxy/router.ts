/**
 * Route matching. Routes are tried in the order the config lists them; the first whose host and path match
 * wins. A path that matches routes none of which allows the method gets 405 with their methods in Allow.
 */
export interface RouteMatchSpec {
  prefix?: string;
  path?: string;
  pattern?: string;
  methods?: string[];
  host?: string;
}

export interface PathMatch {
  params: Record<string, string>;
  /** Length of the decoded path the match consumed as its prefix (for stripPrefix). */
  prefixLength: number;
  /** The part matched by a trailing `*`, for rewrites. */
  rest: string;
}

export type PathMatcher = (decodedPath: string) => PathMatch | undefined;

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function compilePathMatcher(spec: RouteMatchSpec): PathMatcher {
  if (spec.path !== undefined) {
    const want = spec.path;
    const m: PathMatch = { params: NO_PARAMS, prefixLength: want.length, rest: '' };
    return (p) => (p === want ? m : undefined);
  }
  if (spec.prefix !== undefined) {
    const prefix = spec.prefix;
    const bare = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    return (p) => {
      if (!p.startsWith(bare)) return undefined;
      // "/api" matches /api, /api/ and /api/x, never /apix.
      if (p.length > bare.length && p.charCodeAt(bare.length) !== 47) return undefined;
      if (prefix.endsWith('/') && p.length === bare.length && bare.length > 0) return { params: NO_PARAMS, prefixLength: bare.length, rest: '' };
      const prefixLength = Math.min(prefix.length, p.length);
      return { params: NO_PARAMS, prefixLength, rest: p.slice(prefixLength) };
    };
  }
  const pattern = spec.pattern ?? '/';
  const names: string[] = [];
  let src = '^';
  const parts = pattern.split('/').slice(1);
  let wildcard = false;
  parts.forEach((part, i) => {
    if (part === '*' && i === parts.length - 1) {
      src += '(?:/(.*))?';
      wildcard = true;
    } else if (part.startsWith(':')) {
      names.push(part.slice(1));
      src += '/([^/]+)';
    } else {
      src += '/' + part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  });
  const re = new RegExp(src + '$');
  return (p) => {
    const m = re.exec(p);
    if (!m) return undefined;
    const params: Record<string, string> = {};
    names.forEach((n, i) => (params[n] = m[i + 1]));
    const rest = wildcard ? (m[names.length + 1] ?? '') : '';
    return { params, prefixLength: p.length - rest.length, rest };
  };
}

export function compileHostMatcher(host: string | undefined): ((host: string) => boolean) | undefined {
  if (!host) return undefined;
  const want = host.toLowerCase();
  if (want.startsWith('*.')) {
    const suffix = want.slice(1);
    return (h) => h.endsWith(suffix) && h.indexOf('.') === h.length - suffix.length;
  }
  return (h) => h === want;
}

/** Host header without port, lower-cased. */
export function hostOf(hostHeader: string | undefined): string {
  if (!hostHeader) return '';
  const h = hostHeader.charCodeAt(0) === 91 /* [ */ ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':', 1)[0];
  return h.toLowerCase();
}

export interface Routable {
  matchPath: PathMatcher;
  matchHost: ((host: string) => boolean) | undefined;
  methods: ReadonlySet<string> | undefined;
}

export type RouteLookup<R> = { route: R; match: PathMatch } | { allow: string[] } | undefined;

export function findRoute<R extends Routable>(routes: readonly R[], method: string, decodedPath: string, host: string): RouteLookup<R> {
  let allow: Set<string> | undefined;
  for (const route of routes) {
    if (route.matchHost && !route.matchHost(host)) continue;
    const match = route.matchPath(decodedPath);
    if (!match) continue;
    if (!route.methods || route.methods.has(method) || (method === 'HEAD' && route.methods.has('GET'))) return { route, match };
    allow ??= new Set();
    for (const m of route.methods) allow.add(m);
  }
  return allow ? { allow: [...allow] } : undefined;
}
