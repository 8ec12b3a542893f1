/**
 * GET /metrics on the admin listener (Prometheus text format, no token: scrapers rarely carry one and the
 * listener is on loopback by default). The proxy counts in plain per-route objects (src/proxy/traffic.ts);
 * this file turns them into prom-client metrics only when scraped, so requests never pay for label lookups.
 * prom-client's default process metrics (event-loop lag, heap, GC, CPU) come along.
 */
import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Counters } from '../cache/registry.js';
import type { ConsumerServices } from '../consumers/services.js';
import { LATENCY_BUCKETS, METHODS } from '../proxy/traffic.js';
import type { LatencyHistogram, RouteTraffic, Traffic } from '../proxy/traffic.js';

export interface MetricsSources {
  traffic: Traffic;
  /** Cache answers since start, every store summed. */
  cache: () => (Counters & { servedBytes: number }) | undefined;
  /** Age of the oldest usage count not yet written to the store, ms; undefined when no usage is counted. */
  usageLagMs: () => number | undefined;
  /** The consumer services (plans, limit counters) when the gateway has consumers: the dashboard's usage against plan limits. */
  consumers?: () => ConsumerServices | undefined;
}

type Labels = Record<string, string | number>;
interface Value {
  value: number;
  labels: Labels;
  metricName?: string;
}

/** A metric whose values are read from the counters at scrape time (prom-client calls get()). */
class Collected {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: () => Value[],
  ) {}
  get() {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: 'sum' as const };
  }
}

/** Unmatched requests (no route: 404, 400, 414, 503 while draining) carry this route label. */
const UNMATCHED_ROUTE = '(unmatched)';

const routeLabel = (t: RouteTraffic) => (t.name === '' ? UNMATCHED_ROUTE : t.name);

function histogramValues(name: string, route: string, h: LatencyHistogram): Value[] {
  const out: Value[] = [];
  let cum = 0;
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
    cum += h.counts[i];
    out.push({ metricName: `${name}_bucket`, labels: { route, le: LATENCY_BUCKETS[i] }, value: cum });
  }
  out.push({ metricName: `${name}_bucket`, labels: { route, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels: { route }, value: h.sum });
  out.push({ metricName: `${name}_count`, labels: { route }, value: h.count });
  return out;
}

/** prom-client's process metrics, once per process (each collectDefaultMetrics call adds GC observers and timers). */
let processMetrics: Registry | undefined;
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

function createMetricsRegistry(src: MetricsSources): Registry {
  const registry = new Registry();
  const { traffic } = src;
  // Routes that served nothing yet still appear in per-route series once they have; the unmatched bucket only when used.
  const seen = () => traffic.all().filter((t) => t.requests > 0);
  const perRoute = (pick: (t: RouteTraffic) => number) => () => seen().map((t) => ({ labels: { route: routeLabel(t) }, value: pick(t) }));
  const metrics = [
    new Collected('tollgate_http_requests_total', 'Requests answered by the gateway, by route, method and status code.', 'counter', () => {
      const out: Value[] = [];
      for (const t of seen()) {
        t.byMethodStatus.forEach((row, mi) => {
          if (!row) return;
          for (let code = 0; code < row.length; code++) if (row[code] > 0) out.push({ labels: { route: routeLabel(t), method: METHODS[mi], code }, value: row[code] });
        });
      }
      return out;
    }),
    new Collected('tollgate_http_request_duration_seconds', 'Time from the request arriving to the response ending, by route.', 'histogram', () =>
      seen().flatMap((t) => histogramValues('tollgate_http_request_duration_seconds', routeLabel(t), t.gateway)),
    ),
    new Collected('tollgate_upstream_response_duration_seconds', "Time from sending the request upstream to the upstream's response head, by route.", 'histogram', () =>
      seen()
        .filter((t) => t.upstream.count > 0)
        .flatMap((t) => histogramValues('tollgate_upstream_response_duration_seconds', routeLabel(t), t.upstream)),
    ),
    new Collected('tollgate_http_response_bytes_total', 'Bytes written to clients (heads and bodies), by route.', 'counter', perRoute((t) => t.bytesOut)),
    new Collected('tollgate_upstream_errors_total', 'Requests answered 502/504 because the upstream failed or timed out, by route.', 'counter', perRoute((t) => t.upstreamErrors)),
    new Collected('tollgate_upstream_timeouts_total', 'Requests answered 504 because the upstream timed out, by route.', 'counter', perRoute((t) => t.upstreamTimeouts)),
    new Collected('tollgate_rate_limit_rejections_total', 'Requests refused with 429 by the gateway (rate limits, quotas), by route.', 'counter', perRoute((t) => t.rateLimited)),
    new Collected('tollgate_upstream_ratelimit_remaining', "The upstream's quota left, as its last sampled RateLimit-Remaining-style header said (Discogs: X-Discogs-Ratelimit-Remaining), by route.", 'gauge', () =>
      seen()
        .filter((t) => t.quotaRemaining !== undefined)
        .map((t) => ({ labels: { route: routeLabel(t) }, value: t.quotaRemaining! })),
    ),
    new Collected('tollgate_application_requests_total', 'Requests by identified application (summed over routes).', 'counter', () => {
      const sum = new Map<string, number>();
      for (const t of traffic.all()) if (t.apps) for (const [id, n] of t.apps) sum.set(id, (sum.get(id) ?? 0) + n);
      return [...sum].map(([application, value]) => ({ labels: { application }, value }));
    }),
    new Collected('tollgate_cache_requests_total', 'Cache answers by result (hit, miss, stale, revalidated, bypass).', 'counter', () => {
      const c = src.cache();
      if (!c) return [];
      return (['hit', 'miss', 'stale', 'revalidated', 'bypass'] as const).map((result) => ({ labels: { result }, value: c[result] }));
    }),
    new Collected('tollgate_cache_served_bytes_total', 'Body bytes answered from the cache (bytes the upstream did not send).', 'counter', () => {
      const c = src.cache();
      return c ? [{ labels: {}, value: c.servedBytes }] : [];
    }),
    new Collected('tollgate_usage_flush_lag_seconds', 'Age of the oldest usage count not yet written to the store.', 'gauge', () => {
      const ms = src.usageLagMs();
      return ms === undefined ? [] : [{ labels: {}, value: ms / 1000 }];
    }),
  ];
  for (const m of metrics) registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
  return registry;
}

export function registerMetricsRoute(app: FastifyInstance, src: MetricsSources): void {
  const registry = Registry.merge([processRegistry(), createMetricsRegistry(src)]);
  app.get('/metrics', async (_req, reply) => {
    const text = await registry.metrics();
    reply.header('content-type', registry.contentType).header('cache-control', 'no-store');
    return text;
  });
}
