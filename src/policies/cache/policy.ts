/**
 * The cache policy: an RFC 9111 shared cache per route (https://www.rfc-editor.org/rfc/rfc9111).
 *
 * Request phase (priority 700: after auth and limits, before transforms and credentials, so keys see the
 * client's request and never an injected credential):
 * - GET/HEAD: look the key up. Fresh: answer from the entry (the memory fast path is one Map lookup and a
 *   precomputed header record). Stale within stale-while-revalidate: answer stale and refresh in the
 *   background. Otherwise become the fill for the key (revalidating with stored validators when there are
 *   some) or, when a fill is already running, wait for it and share its body.
 * - POST/PUT/PATCH/DELETE: remember the path; a successful answer invalidates it (and configured related
 *   paths) before the response reaches the client.
 * Response phase: store what RFC 9111 and the route allow while streaming it to the client and waiters.
 *
 * Modules: route.ts (per-route and per-exchange state), lookup.ts (lookup and decision), fill.ts (storing and
 * sharing the upstream's answer; coalescing in coalesce.ts), invalidate.ts, revalidate.ts (the background
 * refresh of stale-while-revalidate).
 */
import type { CacheHit } from '../../cache/stores/index.js';
import { definePolicy } from '../types.js';
import { completeFill, fillFailed } from './fill.js';
import { loadFreshness } from './freshness.js';
import { markForwarded } from './headers.js';
import { invalidate } from './invalidate.js';
import { afterBase, freshFromMemory, lookupAndDecide } from './lookup.js';
import { CACHE_STATE, openCacheRoute, settle } from './route.js';
import type { CacheExchange } from './route.js';
import { cacheInfo } from './schema.js';
import type { CacheOptions } from './schema.js';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const cachePolicy = definePolicy({
  ...cacheInfo,
  async create(opts: CacheOptions, deps) {
    await loadFreshness();
    const rt = await openCacheRoute(opts, deps);
    const { keys, lease } = rt;

    return {
      onRequest(ex) {
        const method = ex.method;
        if (method !== 'GET' && method !== 'HEAD') {
          lease.count('bypass');
          const cx: Partial<CacheExchange> = { mode: UNSAFE.has(method) ? 'unsafe' : 'bypass', target: UNSAFE.has(method) ? keys.target(ex.client.url) : '' };
          ex.set(CACHE_STATE, cx as CacheExchange);
          return;
        }
        const baseKey = keys.getKey(ex.client.url, keys.scope(ex.consumer), ex.headers);
        // Entries in process memory: a fresh hit answers here, synchronously, without per-exchange state.
        let first: CacheHit | undefined | null = null;
        if (rt.peek !== undefined && (rt.available === undefined || rt.available())) {
          first = rt.peek(baseKey);
          if (first) {
            const reply = freshFromMemory(rt, ex, first);
            if (reply !== undefined) return reply;
          }
        }
        const cx: CacheExchange = { mode: 'fill', target: keys.target(ex.client.url), baseKey, key: baseKey, vary: undefined, stale: undefined, fill: undefined, background: false, forward: 'uri-miss', reqHeaders: ex.headers };
        ex.set(CACHE_STATE, cx);
        // null: not looked up yet, or not in memory (the disk tier): the full lookup.
        return first === null ? lookupAndDecide(rt, ex, cx) : afterBase(rt, ex, cx, first);
      },

      onResponse(ex, r) {
        const cx = ex.get(CACHE_STATE);
        if (!cx) return;
        switch (cx.mode) {
          case 'fill':
            if (cx.fill) return completeFill(rt, ex, cx, r);
            break;
          case 'unsafe':
            markForwarded(r.headers, 'BYPASS', 'fwd=bypass');
            if (r.status >= 200 && r.status < 400) return invalidate(rt, ex, cx, r).then(() => r);
            return r;
          case 'pass':
            if (cx.unavailable) {
              lease.count('bypass');
              markForwarded(r.headers, 'MISS', `fwd=${cx.forward}; detail=store-unavailable`);
              return r;
            }
            lease.count('miss');
            markForwarded(r.headers, 'MISS', `fwd=${cx.forward}`);
            return r;
          default:
            markForwarded(r.headers, 'BYPASS', 'fwd=bypass');
            return r;
        }
        markForwarded(r.headers, 'MISS', `fwd=${cx.forward}`);
        return r;
      },

      onUpstreamError(ex, err) {
        const cx = ex.get(CACHE_STATE);
        if (!cx?.fill || cx.mode !== 'fill') return;
        return fillFailed(rt, cx, err);
      },

      onDone(ex) {
        const cx = ex.get(CACHE_STATE);
        // The leader ended before the upstream answered (its client left, a later policy failed): waiters retry.
        if (cx?.fill && !cx.fill.settled) settle(rt, cx.fill, { kind: 'retry' });
      },

      async close() {
        await lease.release();
        await rt.privatePool?.close();
      },
    };
  },
});
