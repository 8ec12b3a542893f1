/**
 * What to purge, in store terms: a URL becomes the key prefix of every route's key for it (every variant and
 * consumer), a prefix and a tag are taken as given. Shared by `tollgate cache purge` and the admin API's
 * /api/cache/purge, so both purge the same entries.
 */
import type { Config } from '../../config/schema.js';
import { createKeyBuilder, urlPrefix } from './key.js';
import { cacheSchema } from './schema.js';
import type { CacheOptions } from './schema.js';
import type { PurgeFilter } from '../../cache/stores/index.js';

export interface RouteCache {
  route: string;
  options: CacheOptions;
}

/** The cache policies of every route, with named blocks resolved. */
export function cachePoliciesOf(config: Config): RouteCache[] {
  const out: RouteCache[] = [];
  config.routes.forEach((route, i) => {
    for (const ref of route.policies) {
      let block: Record<string, unknown> | undefined;
      if (typeof ref === 'string') block = config.policies[ref] ?? (ref === 'cache' ? { cache: {} } : undefined);
      else block = ref;
      if (!block || !('cache' in block)) continue;
      const parsed = cacheSchema.safeParse(block.cache ?? {});
      if (parsed.success) out.push({ route: route.name ?? `route-${i}`, options: parsed.data });
    }
  });
  return out;
}

/** Store prefixes for one URL: the same target normalization as each route's keys. */
function urlPrefixes(url: string, caches: RouteCache[]): string[] {
  let target = url;
  if (/^https?:\/\//i.test(url)) {
    const u = new URL(url);
    target = u.pathname + u.search;
  }
  if (!target.startsWith('/')) target = '/' + target;
  const prefixes = new Set<string>();
  for (const { route, options } of caches) prefixes.add(urlPrefix(createKeyBuilder(route, options.key, options.shared).target(target)));
  if (caches.length === 0) prefixes.add(urlPrefix(target));
  return [...prefixes];
}

export interface PurgeRequest {
  url?: string;
  prefix?: string;
  tag?: string;
}

/** The filters for one purge request (at least one of url, prefix, tag: the caller checks). */
export function purgeFilters(q: PurgeRequest, caches: RouteCache[]): PurgeFilter[] {
  const tag = q.tag !== undefined ? { tag: q.tag } : {};
  const filters: PurgeFilter[] = [];
  if (q.url !== undefined) for (const prefix of urlPrefixes(q.url, caches)) filters.push({ prefix, ...tag });
  else filters.push({ ...(q.prefix !== undefined ? { prefix: q.prefix } : {}), ...tag });
  if (q.url !== undefined && q.prefix !== undefined) filters.push({ prefix: q.prefix, ...tag });
  return filters;
}
