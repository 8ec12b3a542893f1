/**
 * /api/cache: the running gateway's cache stores, memory ones included (which `tollgate cache` alone cannot
 * reach): GET for entries, bytes and this instance's hit counts; POST /api/cache/purge {url|prefix|tag}
 * removes entries with the same filters as `tollgate cache purge` (src/policies/cache/purge-filters.ts),
 * through the gateway's own store objects so a disk store's in-memory index stays right.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.js';
import { purgeFilters } from '../policies/cache/purge-filters.js';
import type { PurgeRequest, RouteCache } from '../policies/cache/purge-filters.js';
import type { Counters } from '../cache/registry.js';
import type { CacheStore } from '../cache/stores/index.js';

export interface CacheControl {
  /** The cache stores open in this process. */
  stores(): Promise<{ kind: string; dir: string | null; store: CacheStore; counters: Counters }[]>;
  /** The live config's cache policies (for the key prefixes of a URL). */
  caches(): RouteCache[];
}

const label = (s: { kind: string; dir: string | null }) => (s.dir ? `${s.kind} ${s.dir}` : s.kind);

export function registerCache(app: FastifyInstance, cache: CacheControl): void {
  app.get('/api/cache', async () => {
    const results = [];
    for (const s of await cache.stores()) {
      const st = await s.store.stats();
      const c = s.counters;
      const served = c.hit + c.stale + c.revalidated;
      results.push({ store: label(s), kind: s.kind, entries: st.entries, bytes: st.bytes, hitRatio: served + c.miss > 0 ? served / (served + c.miss) : null, ...c });
    }
    return { count: results.length, next: null, previous: null, results };
  });
  app.post<{ Body: PurgeRequest }>(
    '/api/cache/purge',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, description: 'Path (with query) or full URL: every variant and consumer of it.' },
            prefix: { type: 'string', minLength: 1, description: 'Every entry whose path starts with this.' },
            tag: { type: 'string', minLength: 1, description: 'Every entry the upstream tagged so (Surrogate-Key / Cache-Tag).' },
          },
        },
      },
    },
    async (req) => {
      const q = req.body ?? {};
      if (q.url === undefined && q.prefix === undefined && q.tag === undefined) throw new GatewayError('TG_VALIDATION_FAILED', 'give url, prefix or tag');
      const filters = purgeFilters(q, cache.caches());
      const results = [];
      for (const s of await cache.stores()) {
        let purged = 0;
        for (const f of filters) purged += await s.store.purge(f);
        results.push({ store: label(s), kind: s.kind, purged });
      }
      return { purged: results.reduce((n, r) => n + r.purged, 0), stores: results };
    },
  );
}
