/**
 * Invalidation by unsafe methods (RFC 9111 §4.4): a successful POST/PUT/PATCH/DELETE purges the entries
 * under its path, the route's configured related paths, and the same-origin Location and Content-Location
 * of its response, before that response reaches the client. Fills running for those keys are marked so
 * that what they commit does not stay.
 */
import type { Exchange, UpstreamResponse } from '../types.js';
import { pathPrefixes } from './key.js';
import type { CacheExchange, CacheRoute } from './route.js';

const SAME_ORIGIN = 'http://same.invalid';

export async function invalidate(rt: CacheRoute, ex: Exchange, cx: CacheExchange, r: UpstreamResponse): Promise<void> {
  const q = cx.target.indexOf('?');
  const prefixes = pathPrefixes(q === -1 ? cx.target : cx.target.slice(0, q));
  for (const rel of rt.opts.invalidate) {
    const p = rel.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (m, n: string) => (ex.params[n] !== undefined ? encodeURIComponent(ex.params[n]) : m));
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else prefixes.push(...pathPrefixes(p));
  }
  for (const name of ['location', 'content-location']) {
    const v = r.headers[name];
    if (typeof v !== 'string' || v === '') continue;
    try {
      const u = new URL(v, SAME_ORIGIN);
      if (u.origin === SAME_ORIGIN || rt.origins.has(u.origin)) prefixes.push(...pathPrefixes(u.pathname));
    } catch {
      // Unparseable: nothing to invalidate.
    }
  }
  for (const [k, f] of rt.inflight) if (prefixes.some((p) => k.startsWith(p))) f.invalidated = true;
  await Promise.all(
    prefixes.map((prefix) =>
      rt.store.purge({ prefix }).catch((err: Error) => rt.log.warn({ err: err.message, requestId: ex.requestId }, 'cache invalidation failed')),
    ),
  );
}
