/**
 * Location and Content-Location from the upstream that point at the route's own upstream are rewritten to the
 * gateway, as nginx's `proxy_redirect default` does: the upstream base URL becomes the gateway's public URL and
 * the prefix stripPrefix removed is put back. Without a configured publicUrl the result is a relative reference
 * (RFC 9110 §10.2.2, §8.7), which the client resolves against the URL it used: no Host header is trusted and a
 * cached redirect is right for every client. Decided per route at compile time; other values pass unchanged.
 */
import type { UpstreamClient } from './upstream.js';

export interface RedirectRewriter {
  /** Upstream base URLs (origin + path), lower-case, without trailing slash. */
  readonly bases: readonly string[];
  /** The gateway's public URL without trailing slash, or '' for a relative reference. */
  readonly publicBase: string;
  readonly location: boolean;
  readonly contentLocation: boolean;
}

/**
 * The rewriter of a route, or undefined when it has nothing to do: no upstream, turned off, or both headers
 * already rewritten by the route's rewrite-urls policy (`policyHeaders`), which then keeps precedence.
 */
export function compileRedirects(upstream: UpstreamClient | undefined, enabled: boolean, publicUrl: string, policyHeaders: ReadonlySet<string>): RedirectRewriter | undefined {
  if (!upstream || !enabled) return undefined;
  const location = !policyHeaders.has('location');
  const contentLocation = !policyHeaders.has('content-location');
  if (!location && !contentLocation) return undefined;
  const bases = upstream.targets.map((t) => t.baseUrl.toLowerCase().replace(/\/+$/, ''));
  return { bases, publicBase: publicUrl.replace(/\/+$/, ''), location, contentLocation };
}

/** `value` with the upstream base replaced by the gateway's URL and `mount` (the stripped prefix), or as it was. */
export function rewriteRedirect(rw: RedirectRewriter, value: string, mount: string): string {
  for (const base of rw.bases) {
    if (value.length < base.length || value.slice(0, base.length).toLowerCase() !== base) continue;
    const next = value.charCodeAt(base.length);
    // Only at a boundary: http://up:80 must not match http://up:8080.
    if (value.length > base.length && next !== 47 /* / */ && next !== 63 /* ? */ && next !== 35 /* # */) continue;
    const rest = value.slice(base.length);
    return rw.publicBase + mount + (next === 47 ? rest : '/' + rest);
  }
  return value;
}
