/**
 * Route matching. Routes are tried in the order the config lists them; the first whose host and path match
 * wins. A path that matches routes none of which allows the method gets 405 with their methods in Allow.
 *
 * Large route sets are indexed once (at compile time): exact paths in a Map, prefixes and patterns by the
 * literal head every path they match starts with (ending at a `/` or at the path's end). A request looks up
 * only its own path and the heads that end at one of its `/`, and tries those candidates in written order,
 * so a config of 5000 routes costs about what a config of one does and answers exactly as the linear scan.
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

const NO_PARAMS: Record<string, string> = Object.freeze({});

/**
 * What the index knows of a compiled matcher: it matches only this exact path, or only paths that equal
 * `head` or continue it with a `/` (a head of '' may match anything).
 */
type IndexKey = { exact: string } | { head: string };
const indexKeys = new WeakMap<PathMatcher, IndexKey>();

function keyed(matcher: PathMatcher, key: IndexKey): PathMatcher {
  indexKeys.set(matcher, key);
  return matcher;
}

export function compilePathMatcher(spec: RouteMatchSpec): PathMatcher {
  if (spec.path !== undefined) {
    const want = spec.path;
    const m: PathMatch = { params: NO_PARAMS, prefixLength: want.length, rest: '' };
    return keyed((p) => (p === want ? m : undefined), { exact: want });
  }
  if (spec.prefix !== undefined) {
    const prefix = spec.prefix;
    const bare = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    return keyed((p) => {
      if (!p.startsWith(bare)) return undefined;
      // "/api" matches /api, /api/ and /api/x, never /apix.
      if (p.length > bare.length && p.charCodeAt(bare.length) !== 47) return undefined;
      if (prefix.endsWith('/') && p.length === bare.length && bare.length > 0) return { params: NO_PARAMS, prefixLength: bare.length, rest: '' };
      const prefixLength = Math.min(prefix.length, p.length);
      return { params: NO_PARAMS, prefixLength, rest: p.slice(prefixLength) };
    }, { head: bare });
  }
  const pattern = spec.pattern ?? '/';
  const names: string[] = [];
  let src = '^';
  const parts = pattern.split('/').slice(1);
  let wildcard = false;
  // The literal segments before the first :param or trailing *: every match starts with them.
  let literal = 0;
  while (literal < parts.length && !parts[literal].startsWith(':') && !(parts[literal] === '*' && literal === parts.length - 1)) literal++;
  const head = literal === 0 ? '' : '/' + parts.slice(0, literal).join('/');
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
  return keyed((p) => {
    const m = re.exec(p);
    if (!m) return undefined;
    const params: Record<string, string> = {};
    names.forEach((n, i) => (params[n] = m[i + 1]));
    const rest = wildcard ? (m[names.length + 1] ?? '') : '';
    return { params, prefixLength: p.length - rest.length, rest };
  }, { head });
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

/** Below this many routes the linear scan is as fast as the index (and one route stays one comparison). */
const INDEX_FROM = 9;

interface RouteIndex {
  /** Route positions by exact path. */
  exact: Map<string, number[]>;
  /** Route positions by head (prefix routes and patterns). */
  heads: Map<string, number[]>;
  /** hasHeadLength[n]: some head has length n (a path is only looked up at those of its `/`). */
  hasHeadLength: Uint8Array;
  /** Routes every path is a candidate for: head '' and matchers the index does not know. */
  always: number[];
}

const indexes = new WeakMap<readonly Routable[], RouteIndex | null>();

function pushTo(map: Map<string, number[]>, key: string, i: number): void {
  const list = map.get(key);
  if (list) list.push(i);
  else map.set(key, [i]);
}

/**
 * Indexes a compiled route list for findRoute (compile time; findRoute builds it on first use otherwise).
 * The list must not change afterwards: a snapshot's routes never do.
 */
export function indexRoutes(routes: readonly Routable[]): void {
  if (indexes.has(routes)) return;
  if (routes.length < INDEX_FROM) {
    indexes.set(routes, null);
    return;
  }
  const exact = new Map<string, number[]>();
  const heads = new Map<string, number[]>();
  const always: number[] = [];
  let longest = 0;
  routes.forEach((route, i) => {
    const key = indexKeys.get(route.matchPath);
    if (!key) always.push(i);
    else if ('exact' in key) pushTo(exact, key.exact, i);
    else if (key.head === '') always.push(i);
    else {
      pushTo(heads, key.head, i);
      longest = Math.max(longest, key.head.length);
    }
  });
  const hasHeadLength = new Uint8Array(longest + 1);
  for (const head of heads.keys()) hasHeadLength[head.length] = 1;
  indexes.set(routes, { exact, heads, hasHeadLength, always });
}

// Candidate lists of the request being routed (findRoute is synchronous, so one scratch array serves all).
const lists: (readonly number[])[] = [];
const cursor: number[] = [];

export function findRoute<R extends Routable>(routes: readonly R[], method: string, decodedPath: string, host: string): RouteLookup<R> {
  let index = indexes.get(routes);
  if (index === undefined) {
    indexRoutes(routes);
    index = indexes.get(routes);
  }
  if (!index) return findRouteLinear(routes, method, decodedPath, host);

  let n = 0;
  const exact = index.exact.get(decodedPath);
  if (exact) lists[n++] = exact;
  if (index.always.length) lists[n++] = index.always;
  const has = index.hasHeadLength;
  const end = Math.min(decodedPath.length, has.length - 1);
  for (let i = 1; i <= end; i++) {
    if (has[i] === 1 && (i === decodedPath.length || decodedPath.charCodeAt(i) === 47)) {
      const list = index.heads.get(i === decodedPath.length ? decodedPath : decodedPath.slice(0, i));
      if (list) lists[n++] = list;
    }
  }

  let allow: Set<string> | undefined;
  for (let k = 0; k < n; k++) cursor[k] = 0;
  for (;;) {
    // The next candidate in written order: the smallest position at the lists' cursors.
    let pick = -1;
    let at = Infinity;
    for (let k = 0; k < n; k++) {
      const c = cursor[k];
      if (c < lists[k].length && lists[k][c] < at) {
        at = lists[k][c];
        pick = k;
      }
    }
    if (pick === -1) break;
    cursor[pick]++;
    const route = routes[at];
    if (route.matchHost && !route.matchHost(host)) continue;
    const match = route.matchPath(decodedPath);
    if (!match) continue;
    if (!route.methods || route.methods.has(method) || (method === 'HEAD' && route.methods.has('GET'))) {
      return { route, match };
    }
    allow ??= new Set();
    for (const m of route.methods) allow.add(m);
  }
  return allow ? { allow: [...allow] } : undefined;
}

/** Tries every route in written order: the definition findRoute's index must agree with (and its small-config path). */
export function findRouteLinear<R extends Routable>(routes: readonly R[], method: string, decodedPath: string, host: string): RouteLookup<R> {
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
