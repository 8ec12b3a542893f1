/**
 * Traffic counters across worker processes. Each worker counts its own requests (src/proxy/traffic.ts);
 * the worker that serves the admin listener asks the primary once a second for the others' counters and
 * adds them to its own whenever /metrics or the dashboard reads them. So the admin's figures cover every
 * worker, the others' up to a second old.
 */
import { RouteTraffic, Traffic } from '../proxy/traffic.js';
import type { LatencyHistogram } from '../proxy/traffic.js';

interface HistogramSnapshot {
  counts: number[];
  sum: number;
  count: number;
}

interface RouteSnapshot {
  name: string;
  requests: number;
  classes: number[];
  /** Per method index: [status, count] pairs of the statuses seen. */
  byMethodStatus: ([number, number][] | null)[];
  gateway: HistogramSnapshot;
  upstream: HistogramSnapshot;
  upstreamErrors: number;
  upstreamTimeouts: number;
  rateLimited: number;
  bytesOut: number;
  apps?: [string, number][];
}

export type TrafficSnapshot = RouteSnapshot[];

const histogram = (h: LatencyHistogram): HistogramSnapshot => ({ counts: Array.from(h.counts), sum: h.sum, count: h.count });

export function snapshotTraffic(t: Traffic): TrafficSnapshot {
  return t.all().map((r) => ({
    name: r.name,
    requests: r.requests,
    classes: Array.from(r.classes),
    byMethodStatus: r.byMethodStatus.map((row) => {
      if (!row) return null;
      const pairs: [number, number][] = [];
      for (let s = 0; s < row.length; s++) if (row[s]) pairs.push([s, row[s]]);
      return pairs;
    }),
    gateway: histogram(r.gateway),
    upstream: histogram(r.upstream),
    upstreamErrors: r.upstreamErrors,
    upstreamTimeouts: r.upstreamTimeouts,
    rateLimited: r.rateLimited,
    bytesOut: r.bytesOut,
    ...(r.apps ? { apps: [...r.apps] } : {}),
  }));
}

function addHistogram(into: LatencyHistogram, h: HistogramSnapshot | LatencyHistogram): void {
  for (let i = 0; i < into.counts.length; i++) into.counts[i] += h.counts[i] ?? 0;
  into.sum += h.sum;
  into.count += h.count;
}

/** Adds a route's counters (a live one or a snapshot) into `into`. */
function addRoute(into: RouteTraffic, r: RouteTraffic | RouteSnapshot): void {
  into.requests += r.requests;
  for (let i = 0; i < into.classes.length; i++) into.classes[i] += r.classes[i] ?? 0;
  r.byMethodStatus.forEach((row, m) => {
    if (!row) return;
    const target = (into.byMethodStatus[m] ??= new Float64Array(1000));
    if (row instanceof Float64Array) for (let s = 0; s < row.length; s++) target[s] += row[s];
    else for (const [s, n] of row) target[s] += n;
  });
  addHistogram(into.gateway, r.gateway);
  addHistogram(into.upstream, r.upstream);
  into.upstreamErrors += r.upstreamErrors;
  into.upstreamTimeouts += r.upstreamTimeouts;
  into.rateLimited += r.rateLimited;
  into.bytesOut += r.bytesOut;
  const apps = r.apps instanceof Map ? [...r.apps] : r.apps;
  if (apps?.length) {
    const m = (into.apps ??= new Map());
    for (const [id, n] of apps) m.set(id, (m.get(id) ?? 0) + n);
  }
}

/** Sums snapshots route by route (the unmatched bucket, name '', included). */
export function mergeTraffic(parts: readonly TrafficSnapshot[]): TrafficSnapshot {
  const t = new Traffic();
  for (const part of parts) for (const r of part) addRoute(routeOf(t, r.name), r);
  return snapshotTraffic(t);
}

function routeOf(t: Traffic, name: string): RouteTraffic {
  if (name === '') return t.unmatched;
  let r = t.routes.get(name);
  if (!r) t.routes.set(name, (r = new RouteTraffic(name)));
  return r;
}

/** The admin worker's counters: its own, live, plus the other workers' last snapshot. */
export class SetTraffic extends Traffic {
  #others: TrafficSnapshot = [];

  setOthers(s: TrafficSnapshot): void {
    this.#others = s;
  }

  override all(): RouteTraffic[] {
    if (this.#others.length === 0) return super.all();
    const sum = new Traffic();
    for (const r of super.all()) {
      const into = routeOf(sum, r.name);
      addRoute(into, r);
      into.quotaRemaining = r.quotaRemaining;
      into.quotaAt = r.quotaAt;
    }
    for (const r of this.#others) addRoute(routeOf(sum, r.name), r);
    return [...sum.routes.values(), sum.unmatched];
  }
}
