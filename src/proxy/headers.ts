/**
 * Header handling on the proxy path.
 * Hop-by-hop headers (RFC 9110 §7.6.1, https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1) are removed in
 * both directions, together with any header the Connection header names.
 */
import type { Headers } from '../policies/types.js';
import { rewriteRedirect } from './redirects.js';
import type { RedirectRewriter } from './redirects.js';

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Headers the gateway sets itself from its own view; a client's copies are only trusted from trusted proxies. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip']);

export interface ClientHeadView {
  headers: Headers;
  /** Number of Host header lines: more than one is refused (RFC 9112 §3.2). */
  hostCount: number;
  host: string | undefined;
  xForwardedFor: string | undefined;
  xForwardedProto: string | undefined;
  xForwardedHost: string | undefined;
  requestId: string | undefined;
  via: string | undefined;
  /** The client sent Transfer-Encoding (a body without a declared length). */
  chunked: boolean;
  /** The client waits for 100 Continue before sending its body (RFC 9110 §10.1.1). */
  expectContinue: boolean;
}

/** `Connection: keep-alive`, the usual value, names only a header that is dropped anyway: no token set then. */
const namesOnlyKeepAlive = (v: string) => v.length === 10 && (v === 'keep-alive' || v.toLowerCase() === 'keep-alive');

function connectionTokens(raw: string[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection' && !namesOnlyKeepAlive(raw[i + 1])) {
      for (const t of raw[i + 1].split(',')) {
        const n = t.trim().toLowerCase();
        if (n) (out ??= new Set()).add(n);
      }
    }
  }
  return out;
}

/** One pass over the client's raw headers: the upstream header set plus the values the gateway needs. */
export function readClientHead(raw: string[]): ClientHeadView {
  const named = raw.length > 0 ? connectionTokens(raw) : undefined;
  const headers: Headers = {};
  const view: ClientHeadView = {
    headers,
    hostCount: 0,
    host: undefined,
    xForwardedFor: undefined,
    xForwardedProto: undefined,
    xForwardedHost: undefined,
    requestId: undefined,
    via: undefined,
    chunked: false,
    expectContinue: false,
  };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    if (HOP_BY_HOP.has(name) || named?.has(name)) {
      if (name === 'transfer-encoding') view.chunked = true;
      continue;
    }
    // The gateway answers 100-continue itself once it decides to read the body; undici refuses `expect`.
    if (name === 'expect') {
      if (value.toLowerCase() === '100-continue') view.expectContinue = true;
      continue;
    }
    if (name === 'host') {
      view.hostCount++;
      view.host = value;
      continue;
    }
    if (FORWARDING.has(name)) {
      if (name === 'x-forwarded-for') view.xForwardedFor = view.xForwardedFor ? `${view.xForwardedFor}, ${value}` : value;
      else if (name === 'x-forwarded-proto') view.xForwardedProto = value;
      else if (name === 'x-forwarded-host') view.xForwardedHost = value;
      continue;
    }
    if (name === 'x-request-id') {
      view.requestId = value;
      continue;
    }
    if (name === 'via') {
      view.via = view.via ? `${view.via}, ${value}` : value;
      continue;
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [prev, value];
  }
  return view;
}

/** The upstream's own request id, passed on under this name: the client gets one x-request-id, the gateway's. */
const UPSTREAM_REQUEST_ID = 'x-upstream-request-id';

/**
 * Filters the upstream's response head, as undici's controller API hands it over (a record: lower-case names,
 * repeated names as arrays, values already strings), into a flat [name, value, …] array ready for
 * res.writeHead, removing hop-by-hop headers. An upstream x-request-id is renamed x-upstream-request-id.
 */
export function filterResponseRecord(h: Readonly<Record<string, string | string[] | undefined>>, out: string[], redirects?: RedirectRewriter, mount = ''): string[] {
  let named: Set<string> | undefined;
  const conn = h['connection'];
  if (conn !== undefined && !(typeof conn === 'string' && namesOnlyKeepAlive(conn))) for (const v of Array.isArray(conn) ? conn : [conn]) for (const t of v.split(',')) (named ??= new Set()).add(t.trim().toLowerCase());
  for (const name in h) {
    const v = h[name];
    if (v === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    const rewrite = redirects !== undefined && ((name === 'location' && redirects.location) || (name === 'content-location' && redirects.contentLocation));
    const outName = name.length === 12 && name === 'x-request-id' ? UPSTREAM_REQUEST_ID : name;
    if (typeof v === 'string') out.push(outName, rewrite ? rewriteRedirect(redirects, v, mount) : v);
    else for (const x of v) out.push(outName, rewrite ? rewriteRedirect(redirects, x, mount) : x);
  }
  return out;
}

/** Flat [name, value, …] array to a header record (lower-case names; repeated names become arrays). */
export function flatToRecord(flat: string[]): Headers {
  const h: Headers = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i];
    const prev = h[name];
    if (prev === undefined) h[name] = flat[i + 1];
    else if (Array.isArray(prev)) prev.push(flat[i + 1]);
    else h[name] = [prev, flat[i + 1]];
  }
  return h;
}

/** Header record to a flat array for res.writeHead. */
export function recordToFlat(h: Headers, out: string[] = []): string[] {
  for (const name in h) {
    const v = h[name];
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else if (v !== undefined) out.push(name, v);
  }
  return out;
}
