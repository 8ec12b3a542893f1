/**
 * The `usage` policy: after each exchange, adds the request's metric deltas (hits, and what the service's
 * mapping rules say) to in-memory counters that are flushed to the store in batches (src/consumers/usage.ts).
 * Requests refused by auth (no consumer) or by rate-limit are not counted, as in 3scale's authrep.
 */
import type { MetricDeltas } from '../../consumers/metrics.js';
import { requestMetrics, withoutConsumers } from '../consumers.js';
import { RATE_LIMIT_OUTCOME } from '../rate-limit/outcome.js';
import { definePolicy } from '../types.js';
import { usageInfo } from './schema.js';

export const usagePolicy = definePolicy({
  ...usageInfo,
  create(opts, deps) {
    const svc = deps.services.consumers;
    if (!svc) return withoutConsumers('usage');
    const { directory, usage } = svc;
    return {
      onDone(ex) {
        const c = ex.consumer;
        if (!c || ex.get(RATE_LIMIT_OUTCOME)?.refused) return;
        if (c.anonymous && !opts.anonymous) return;
        const appId = c.anonymous ? 'anonymous' : c.id;
        const add = (deltas: MetricDeltas) => {
          for (const [metric, delta] of deltas) usage.add(appId, metric, delta);
        };
        const d = requestMetrics(ex, directory);
        if (d instanceof Promise) d.then(add, () => undefined);
        else add(d);
      },
    };
  },
});
