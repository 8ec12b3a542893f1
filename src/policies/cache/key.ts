/**
 * Cache keys. A key starts with the normalized request target (path and query), so purging by URL or by
 * path prefix is a literal prefix match in every store:
 *
 *   <path>[?<query>] \0 <route> \0 <method> \0 <scope> [\0h:<extra headers>] [\0v:<Vary'd headers>]
 *
 * Credentials never enter a key in clear: secret query parameters and sensitive header values are hashed.
 * The scope keeps consumers apart: `c:<id>` per consumer, `shared` for consumers on a shared route, `public`
 * for unauthenticated requests, so an entry filled for a consumer is never served to an anonymous caller.
 */
import { createHash } from 'node:crypto';
import type { Consumer, CredentialLocations, Headers } from '../types.js';
import type { CacheKeyOptions } from './schema.js';

const SEP = '\u0000';
/** Header values that identify a caller: hashed when a key includes them (Vary: Authorization, key.headers). */
const SENSITIVE_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);
const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** Client URLs whose public GET key is remembered (see KeyBuilder.getKey). */
const KEY_MEMO_SIZE = 4096;
const KEY_MEMO_URL_MAX = 512;

function hashValue(v: string): string {
  return '#' + createHash('sha256').update(v).digest('base64url').slice(0, 22);
}

/**
 * RFC 3986 §6.2.2 normalization of percent-encoding: hex digits upper-cased, unreserved characters decoded,
 * so /a%7eb and /a~b are one entry. Everything else stays as the client sent it.
 */
export function normalizePercent(s: string): string {
  if (s.indexOf('%') === -1) return s;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : '%' + hex.toUpperCase();
  });
}

export interface KeyBuilder {
  /** Normalized `path[?query]` of a client request target. */
  target(clientUrl: string): string;
  /** The scope part: who may see the entry. */
  scope(consumer: Consumer | undefined): string;
  /** The key before Vary: target, route, method, scope and configured extra headers. */
  base(target: string, method: string, scope: string, headers: Headers): string;
  /**
   * `base(target(clientUrl), 'GET', scope, headers)`, remembered per client URL for public keys without
   * extra headers (and URLs the key keeps as sent, up to 512 bytes): a hit then looks its entry up with the
   * very string it was stored under (no key to build, flatten and hash per request).
   */
  getKey(clientUrl: string, scope: string, headers: Headers): string;
  /** The key of one variant of `base`, for the request headers the response's Vary names. */
  variant(base: string, vary: readonly string[], headers: Headers): string;
}

export function createKeyBuilder(routeName: string, opts: CacheKeyOptions, shared: boolean, credentials?: CredentialLocations): KeyBuilder {
  const ignore = new Set(opts.ignoreParams);
  const routePart = SEP + routeName + SEP;
  const extra = opts.headers;
  // The route's auth policy may be created after this cache policy: its names are merged in on first use.
  let secretNames: Set<string> | undefined;
  let sensitiveNames: Set<string> | undefined;
  const secretParams = (): Set<string> =>
    (secretNames ??= new Set([...opts.secretParams, ...[...(credentials?.query ?? [])].map((n) => n.toLowerCase())]));
  const sensitiveHeaders = (): Set<string> => (sensitiveNames ??= new Set([...SENSITIVE_HEADERS, ...(credentials?.headers ?? [])]));

  function headerValue(headers: Headers, name: string): string {
    const v = headers[name];
    if (v === undefined) return '';
    const s = Array.isArray(v) ? v.join(', ') : v;
    return s !== '' && sensitiveHeaders().has(name) ? hashValue(s) : s;
  }

  function query(q: string): string {
    if (q === '') return '';
    let parts = q.split('&');
    const secret = secretParams();
    if (ignore.size || secret.size) {
      const out: string[] = [];
      for (const p of parts) {
        if (p === '') continue;
        const eq = p.indexOf('=');
        const rawName = eq === -1 ? p : p.slice(0, eq);
        let name = rawName;
        try {
          name = decodeURIComponent(rawName.replace(/\+/g, ' '));
        } catch {
          // A malformed escape is kept as written; it cannot match a configured name anyway.
        }
        if (ignore.has(name)) continue;
        if (eq !== -1 && secret.has(name.toLowerCase())) out.push(rawName + '=' + hashValue(p.slice(eq + 1)));
        else out.push(normalizePercent(p));
      }
      parts = out;
    } else {
      parts = parts.filter((p) => p !== '').map(normalizePercent);
    }
    if (opts.sortQuery) parts.sort();
    return parts.join('&');
  }

  // Public GET keys without extra headers, by client URL; cleared when full (a load of ever new URLs only
  // loses the shortcut).
  const memo = new Map<string, string>();

  function target(clientUrl: string): string {
    const q = clientUrl.indexOf('?');
    if (q === -1) return normalizePercent(clientUrl);
    const path = normalizePercent(clientUrl.slice(0, q));
    const qs = query(clientUrl.slice(q + 1));
    return qs === '' ? path : path + '?' + qs;
  }

  function base(target: string, method: string, scope: string, headers: Headers): string {
    let key = target + routePart + method + SEP + scope;
    if (extra.length) {
      key += SEP + 'h:';
      for (const name of extra) key += name + '=' + headerValue(headers, name) + '\u0001';
    }
    return key;
  }

  return {
    target,
    base,
    getKey(clientUrl, scope, headers) {
      if (scope !== 'public' || extra.length) return base(target(clientUrl), 'GET', scope, headers);
      const known = memo.get(clientUrl);
      if (known !== undefined) return known;
      const t = target(clientUrl);
      const key = base(t, 'GET', scope, headers);
      // Only URLs the key keeps as sent: short, and with nothing hashed or dropped (so no credential in
      // clear stays in the memo).
      if (t === clientUrl && clientUrl.length <= KEY_MEMO_URL_MAX) {
        if (memo.size >= KEY_MEMO_SIZE) memo.clear();
        memo.set(clientUrl, key);
      }
      return key;
    },
    scope(consumer) {
      if (!consumer || consumer.anonymous) return 'public';
      return shared ? 'shared' : 'c:' + consumer.id;
    },
    variant(base, vary, headers) {
      let key = base + SEP + 'v:';
      for (const name of vary) key += name + '=' + headerValue(headers, name) + '\u0001';
      return key;
    },
  };
}

/**
 * Store prefixes matching every entry of one path (any query, route, method, scope or variant). Used by
 * write invalidation and `tollgate cache purge`.
 */
export function pathPrefixes(path: string): string[] {
  const p = normalizePercent(path);
  return [p + SEP, p + '?'];
}

/** The prefix matching exactly one URL (path and query as given; all routes, scopes, variants). */
export function urlPrefix(target: string): string {
  return target + SEP;
}
