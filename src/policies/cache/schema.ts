import { z } from 'zod';
import { duration, size } from '../../lib/units.js';

import { CACHE_STORE_KINDS } from '../../cache/stores/types.js';

/** Query parameters whose values are hashed, never written into a cache key (they carry credentials). */
const DEFAULT_SECRET_PARAMS = ['api_key', 'apikey', 'key', 'token', 'access_token', 'app_key', 'user_key', 'password', 'secret', 'client_secret', 'signature', 'sig'];

const statusKey = z.string().regex(/^[45]\d\d$/, 'expected an error status like 404');

export const cacheKeySchema = z
  .strictObject({
    sortQuery: z.boolean().default(false).describe('Sort query parameters by name, so ?a=1&b=2 and ?b=2&a=1 share one entry.'),
    ignoreParams: z.array(z.string()).default([]).describe('Query parameters left out of the key (tracking parameters such as utm_source).'),
    headers: z.array(z.string().transform((s) => s.toLowerCase())).default([]).describe('Request headers whose values are part of every key (besides those the response names in Vary).'),
    secretParams: z
      .array(z.string().transform((s) => s.toLowerCase()))
      .default(DEFAULT_SECRET_PARAMS)
      .describe("Query parameters (and any key header named authorization, cookie or x-api-key) whose values enter the key only as a hash, never in clear. The query parameters and headers the route's auth policy reads credentials from are always hashed too."),
  })
  .describe('What makes two requests the same entry: method, normalized path and query, the Vary\'d request headers, and these extras.');

export const cacheSchema = z
  .strictObject({
    store: z.enum(CACHE_STORE_KINDS).default('memory').describe('Where entries live: memory (per process, LRU by bytes), disk (survives restarts, for big bodies), redis (shared by every instance; needs the top-level `redis:` URL; bodies over maxEntrySize stay on the local disk in `dir`, not shared; while Redis is unreachable or slower than `redis.timeout` the route answers from the upstream uncached, Cache-Status `detail=store-unavailable`), tiered (small bodies in memory, large ones on disk).'),
    maxSize: size('Size cap of the store (bodies plus metadata); least recently used entries are evicted past it. Default: 64 MiB in memory, 1 GiB on disk.').optional(),
    maxEntrySize: size('Largest body stored; larger responses are served but not cached. Default: 1 MiB for memory and redis, the whole maxSize for disk. Tiered and redis: the threshold above which bodies go to disk.').optional(),
    dir: z.string().default('./.tollgate/cache').describe('Directory of the disk store (and of the disk half of tiered and redis), relative to the config file. Stores with the same settings are shared by routes.'),
    ttl: duration('Fixed freshness lifetime: replaces what the upstream says (max-age, Expires), and makes responses without freshness information cacheable. Leave unset to follow the upstream (RFC 9111).').optional(),
    ignoreNoCache: z.boolean().default(false).describe('Ignore `Cache-Control: no-cache` / `Pragma: no-cache` from the upstream (APIs that send it on everything). `no-store` and `private` are still honoured.'),
    heuristic: z.boolean().default(false).describe('Allow heuristic freshness (10% of the time since Last-Modified, RFC 9111 §4.2.2) for responses without explicit freshness.'),
    staleWhileRevalidate: duration('Default stale-while-revalidate window (RFC 5861) when the upstream does not send one: a stale entry is served at once while it is refreshed in the background.').prefault('0s'),
    staleIfError: duration('Default stale-if-error window (RFC 5861) when the upstream does not send one: a stale entry is served when the upstream is down, times out, or answers 5xx or 429.').prefault('0s'),
    keepStale: duration('How long an entry with validators (ETag, Last-Modified) is kept past its freshness so it can be revalidated with a cheap 304.').prefault('1h'),
    shared: z.boolean().default(false).describe('On routes with an authenticated consumer: share entries between consumers. Default: entries are per consumer. Responses cached for consumers are never served to unauthenticated requests.'),
    etag: z.boolean().default(false).describe('Generate a strong ETag (a hash of the body) for cacheable responses that have none, so clients can revalidate with If-None-Match.'),
    negative: z.record(statusKey, duration('Freshness lifetime of this error status.')).default({}).describe('Negative caching: error statuses that may be stored, with their lifetime, e.g. { "404": 30s }. Other error statuses are never stored.'),
    setCookie: z.enum(['skip', 'strip', 'store']).default('skip').describe('Responses with Set-Cookie: skip (never stored), strip (stored without the Set-Cookie header), store (stored with it: every client gets the cookie).'),
    tagHeaders: z.array(z.string().transform((s) => s.toLowerCase())).default(['surrogate-key', 'cache-tag']).describe('Upstream response headers that tag entries for `tollgate cache purge --tag` (Surrogate-Key: space-separated, others comma-separated). They are not passed to clients.'),
    invalidate: z.array(z.string().startsWith('/')).default([]).describe('Paths a successful POST, PUT, PATCH or DELETE on this route also invalidates (its own path always is). :params from the route pattern are substituted; a trailing * invalidates a prefix, e.g. /api/factory/:id/*.'),
    key: cacheKeySchema.prefault({}),
    priority: z.number().optional().describe('Chain position; default 700 (after auth, limits and validation; before transforms and credentials).'),
  })
  .describe('Caches upstream responses by RFC 9111 (freshness, Vary, validators), coalesces concurrent misses, revalidates with 304, serves stale on error, and invalidates on writes. Adds Cache-Status (RFC 9211), X-Cache and Age to every response of the route.');

export type CacheOptions = z.output<typeof cacheSchema>;
export type CacheKeyOptions = z.output<typeof cacheKeySchema>;

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const cacheInfo = {
  name: 'cache',
  description: 'HTTP cache (RFC 9111): stores, coalesces, revalidates and invalidates upstream responses.',
  priority: 700,
  schema: cacheSchema,
} as const;
