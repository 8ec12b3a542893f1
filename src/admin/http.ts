/**
 * The admin listener's HTTP conventions (seed 001): bearer-token auth with a public allow-list, errors from
 * the one catalogue (src/errors.ts), `page`/`page_size` pagination, and ETags (If-None-Match → 304,
 * If-Match → 412). RFC 9110 §8.8.3 (ETag), §13.1.1 (If-Match), §13.1.2 (If-None-Match); RFC 6750 (Bearer).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, GatewayError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { negotiate } from '../policies/negotiate/accept.js';
import { toXml } from '../policies/negotiate/xml.js';
import { StoreError } from '../store/types.js';

/**
 * Paths that answer without the admin token: probes, the Prometheus scrape, and the pages that load first and
 * then ask for the token (dashboard at `/`, Swagger UI at `/docs` with the OpenAPI document it links).
 */
const PUBLIC_PATHS: readonly string[] = ['/', '/healthz', '/readyz', '/metrics', '/openapi.json', '/favicon.ico'];
/** Prefixes of public static assets (the docs' and dashboard's bundled files). */
const PUBLIC_PREFIXES: readonly string[] = ['/docs', '/assets/', '/dashboard/'];

function isPublicPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return PUBLIC_PATHS.includes(path) || PUBLIC_PREFIXES.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : p + '/'));
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time comparison of a presented token with the admin token (hashes: equal lengths, no length leak). */
function tokenMatches(presented: string, token: string): boolean {
  return token !== '' && timingSafeEqual(digest(presented), digest(token));
}

function sendError(reply: FastifyReply, code: ErrorCode, message?: string, headers?: Record<string, string>, status?: number): FastifyReply {
  if (headers) reply.headers(headers);
  return reply
    .code(status ?? ERRORS[code].status)
    .type('application/json; charset=utf-8')
    .send({ error: message ?? ERRORS[code].message, code });
}

const STORE_CODES: Record<StoreError['code'], ErrorCode> = { NOT_FOUND: 'TG_NOT_FOUND', CONFLICT: 'TG_CONFLICT', INVALID: 'TG_VALIDATION_FAILED' };

/**
 * Installs auth (when `token()` is not empty), error mapping and ETags. Auth runs before any route, so routes
 * added later by other modules are protected unless their path is in the allow-list.
 */
export function installConventions(app: FastifyInstance, token: () => string): void {
  app.addHook('onRequest', async (req, reply) => {
    const t = token();
    if (t === '' || isPublicPath(req.url)) return;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
    if (!m || !tokenMatches(m[1], t)) {
      return sendError(reply, 'TG_ADMIN_UNAUTHORIZED', undefined, { 'www-authenticate': m ? 'Bearer realm="tollgate-admin", error="invalid_token"' : 'Bearer realm="tollgate-admin"' });
    }
  });
  // Refused before the handler runs, so a 406 never follows a write that happened.
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.startsWith('/api/') && negotiate(req.headers.accept) === undefined) {
      return sendError(reply, 'TG_NOT_ACCEPTABLE', 'The admin API answers with application/json or application/xml.');
    }
  });
  app.setErrorHandler(async (err: Error & { validation?: unknown; statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof StoreError) return sendError(reply, STORE_CODES[err.code], err.message);
    if (err instanceof GatewayError) return sendError(reply, err.code, err.message, err.headers, err.status);
    if (err.validation) return sendError(reply, 'TG_VALIDATION_FAILED', err.message);
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return sendError(reply, 'TG_BAD_REQUEST', err.message, undefined, err.statusCode);
    reply.log.error({ err }, 'admin API error');
    return sendError(reply, 'TG_INTERNAL');
  });
  // The API speaks JSON, or XML when Accept prefers it (the negotiate policy's shape and rules, docs/negotiate.md).
  // Then ETags on every successful GET: a client polling the same page gets 304 when nothing changed.
  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.url.startsWith('/api/') || typeof payload !== 'string') return payload;
    reply.header('vary', 'Accept');
    let body: string = payload;
    const type = negotiate(req.headers.accept) ?? 'application/json';
    if (type !== 'application/json' && body !== '' && /json/.test(String(reply.getHeader('content-type') ?? ''))) {
      body = toXml(JSON.parse(body), 'response', 'item');
      reply.type(`${type}; charset=utf-8`);
    }
    if ((req.method !== 'GET' && req.method !== 'HEAD') || reply.statusCode !== 200) return body;
    const tag = etagOf(body);
    reply.header('etag', tag);
    if (matchesAny(req.headers['if-none-match'], tag)) {
      reply.code(304);
      return '';
    }
    return body;
  });
}

function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Weak comparison (RFC 9110 §8.8.3.2): `W/` prefixes are ignored; `*` matches anything. */
function matchesAny(header: string | undefined, tag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const v = t.trim().replace(/^W\//, '');
    return v === '*' || v === tag;
  });
}

/**
 * If-Match on an update: the representation a GET would send now must carry one of the given ETags, else 412
 * (someone changed it since the client read it). No If-Match: the update goes ahead.
 */
export async function checkIfMatch(req: FastifyRequest, current: () => Promise<unknown>): Promise<void> {
  const h = req.headers['if-match'];
  if (!h) return;
  const json = JSON.stringify(await current());
  // The ETag of either representation the client may have read (JSON or XML).
  if (!matchesAny(h, etagOf(json)) && !matchesAny(h, etagOf(toXml(JSON.parse(json), 'response', 'item')))) throw new GatewayError('TG_PRECONDITION_FAILED');
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export const pageQuery = {
  page: { type: 'integer', minimum: 1, default: 1, description: 'Page number, from 1.' },
  page_size: { type: 'integer', minimum: 1, maximum: 500, default: 50, description: 'Results per page (at most 500).' },
} as const;

/** One page of `all`, with links to the neighbouring pages (same path and filters). */
export function paginate<T>(req: FastifyRequest, all: readonly T[]): Page<T> {
  const q = req.query as { page?: number; page_size?: number };
  const page = q.page ?? 1;
  const size = q.page_size ?? 50;
  const u = new URL(req.url, 'http://admin');
  const link = (p: number): string => {
    u.searchParams.set('page', String(p));
    u.searchParams.set('page_size', String(size));
    return u.pathname + u.search;
  };
  const start = (page - 1) * size;
  return {
    count: all.length,
    next: start + size < all.length ? link(page + 1) : null,
    previous: page > 1 ? link(Math.min(page - 1, Math.max(1, Math.ceil(all.length / size)))) : null,
    results: all.slice(start, start + size),
  };
}
