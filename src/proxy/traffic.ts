/**
 * Traffic counters for /metrics and the dashboard, updated once per request from the access-log entry the
 * handler already builds. Plain numbers in one preallocated object per route: no label lookups, strings or
 * allocations per request. prom-client reads them only when scraped (src/admin/metrics.ts), and the
 * dashboard's history samples them once a second (src/admin/dashboard/history.ts).
 * The data plane never imports prom-client.
 */
import type { AccessLogEntry } from './handler.js';

/** Histogram bucket upper bounds, seconds (Prometheus' 1-2.5-5 series, fine enough for p50/p99 estimates). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const NB = LATENCY_BUCKETS.length;

/** Methods counted under their own label; others count as OTHER. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const;

function methodIndex(m: string): number {
  switch (m) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'PATCH':
      return 4;
    case 'DELETE':
      return 5;
    case 'OPTIONS':
      return 6;
    default:
      return 7;
  }
}

/** Counts per bucket (not cumulative; the last slot is +Inf), plus sum and count. */
export class LatencyHistogram {
  readonly counts = new Float64Array(NB + 1);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    let i = 0;
    while (i < NB && seconds > LATENCY_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

export class RouteTraffic {
  requests = 0;
  /** Responses by status class: index 1..5 (1xx..5xx); 0 for anything else. */
  readonly classes = new Float64Array(6);
  /** Requests by method index, then status code (0..999); a method's row is allocated when first seen. */
  readonly byMethodStatus: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(METHODS.length).fill(undefined);
  readonly gateway = new LatencyHistogram();
  readonly upstream = new LatencyHistogram();
  /** Answered with the gateway's 502/504 because the upstream failed or timed out (after retries). */
  upstreamErrors = 0;
  upstreamTimeouts = 0;
  /** 429s the gateway made (rate-limit policies), not ones the upstream sent. */
  rateLimited = 0;
  bytesOut = 0;
  /** Requests per application, only on routes whose requests carry an identified consumer. */
  apps: Map<string, number> | undefined;
  /**
   * The upstream's own quota left, from a `RateLimit-Remaining`-style header it sends (Discogs:
   * `X-Discogs-Ratelimit-Remaining`), read from the first and then every 32nd response (it changes slowly).
   * Not watched on routes with a rate-limit policy: its own RateLimit headers would be mistaken for the upstream's.
   */
  quotaWatch = false;
  quotaRemaining: number | undefined;
  quotaAt = 0;
  constructor(readonly name: string) {}
}

/** What counting needs of a route. */
interface CountedRoute {
  upstream?: unknown;
  chain: readonly { label: string }[];
}

const QUOTA_HEADER = /\r\n(?:x-discogs-|x-)?ratelimit-remaining:[ \t]*(\d+)/i;
const isRateLimit = (label: string) => label === 'rate-limit' || label.endsWith('(rate-limit)');

/** Reads the quota header from the response head node wrote (the head as sent, so every response path is covered). */
function readQuota(t: RouteTraffic, res: unknown): void {
  const head = (res as { _header?: unknown })._header;
  if (typeof head !== 'string') return;
  const m = QUOTA_HEADER.exec(head);
  if (!m) return;
  t.quotaRemaining = Number(m[1]);
  t.quotaAt = Date.now();
}

export class Traffic {
  /** Per route name: counts survive a reload that keeps the route's name. */
  readonly routes = new Map<string, RouteTraffic>();
  /** Requests refused before a route matched (404, 400, 414, 503 while draining). */
  readonly unmatched = new RouteTraffic('');
  readonly startedAt = Date.now();
  #byRoute = new WeakMap<object, RouteTraffic>();

  #lastRoute: object | undefined;
  #lastTraffic: RouteTraffic | undefined;

  #forRoute(route: CountedRoute, name: string): RouteTraffic {
    // Consecutive requests mostly hit the same route: skip the WeakMap then.
    if (route === this.#lastRoute) return this.#lastTraffic!;
    let t = this.#byRoute.get(route);
    if (!t) {
      t = this.routes.get(name);
      if (!t) this.routes.set(name, (t = new RouteTraffic(name)));
      this.#byRoute.set(route, t);
      t.quotaWatch = route.upstream !== undefined && !route.chain.some((c) => isRateLimit(c.label));
    }
    this.#lastRoute = route;
    this.#lastTraffic = t;
    return t;
  }

  readonly record = (e: AccessLogEntry): void => {
    const ex = e.ex;
    const t = ex ? this.#forRoute(ex.route, ex.routeName) : this.unmatched;
    const status = e.status;
    t.requests++;
    const cls = (status / 100) | 0;
    t.classes[cls > 0 && cls < 6 ? cls : 0]++;
    const mi = methodIndex(e.method);
    (t.byMethodStatus[mi] ??= new Float64Array(1000))[status % 1000]++;
    t.gateway.observe(e.ms / 1000);
    t.bytesOut += e.bytes;
    if (e.upstreamMs !== undefined) t.upstream.observe(e.upstreamMs / 1000);
    else if (ex) {
      // No upstream head arrived: the answer is the gateway's own (an error page, a limiter refusal, a cache hit).
      if (status >= 500 && ex.route.upstream && ex.attempts > 0) {
        t.upstreamErrors++;
        if (status === 504) t.upstreamTimeouts++;
      } else if (status === 429) t.rateLimited++;
    }
    if (t.quotaWatch && (t.requests & 31) === 1) readQuota(t, ex!.res);
    const c = ex?.consumer;
    if (c && !c.anonymous) {
      const apps = (t.apps ??= new Map());
      apps.set(c.id, (apps.get(c.id) ?? 0) + 1);
    }
  };

  /** Every route's counters, the unmatched ones last. */
  all(): RouteTraffic[] {
    return [...this.routes.values(), this.unmatched];
  }
}

/** The value at quantile q (0..1) of bucket counts (not cumulative), interpolated inside its bucket; seconds. */
export function quantile(counts: ArrayLike<number>, q: number): number | undefined {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (n > 0 && seen + n >= rank) {
      const lo = i === 0 ? 0 : LATENCY_BUCKETS[i - 1];
      const hi = i < NB ? LATENCY_BUCKETS[i] : LATENCY_BUCKETS[NB - 1];
      return lo + (hi - lo) * Math.min(1, Math.max(0, (rank - seen) / n));
    }
    seen += n;
  }
  return LATENCY_BUCKETS[NB - 1];
}
