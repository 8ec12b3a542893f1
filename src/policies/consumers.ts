/**
 * What the auth, rate-limit and usage policies share besides their services (src/consumers/services.ts):
 * the per-request metric deltas, computed once and kept on the exchange, and the hooks of a policy compiled
 * without consumer services.
 */
import type { ConsumerDirectory } from '../consumers/directory.js';
import { HITS_ONLY, metricsFor } from '../consumers/metrics.js';
import type { MetricDeltas } from '../consumers/metrics.js';
import { GatewayError } from '../errors.js';
import { stateKey } from './types.js';
import type { Exchange, PolicyHooks } from './types.js';

const METRICS = stateKey<MetricDeltas>('consumers.metrics');

/** The request's metric deltas (mapping rules of the consumer's service, else hits + 1); memoised per exchange. */
export function requestMetrics(ex: Exchange, directory: ConsumerDirectory): MetricDeltas | Promise<MetricDeltas> {
  const known = ex.get(METRICS);
  if (known) return known;
  const service = ex.consumer?.service;
  if (!service) {
    ex.set(METRICS, HITS_ONLY);
    return HITS_ONLY;
  }
  const path = ex.client.path;
  const rules = directory.mappingRules(service);
  const compute = (r: Parameters<typeof metricsFor>[0]) => {
    const m = metricsFor(r, ex.client.method, path);
    ex.set(METRICS, m);
    return m;
  };
  return rules instanceof Promise ? rules.then(compute) : compute(rules);
}

/** Hooks for a policy compiled where the gateway built no consumer services (e.g. `tollgate check`). */
export function withoutConsumers(policy: string): PolicyHooks {
  return {
    onRequest() {
      throw new GatewayError('TG_INTERNAL', `The ${policy} policy has no consumer store.`);
    },
  };
}
