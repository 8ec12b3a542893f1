/**
 * The dashboard's last hour, in memory: the proxy's cumulative counters (src/proxy/traffic.ts) are sampled
 * once a second off the request path; the differences go into a ring of per-second buckets (gateway-wide
 * series) and a ring of per-10-second buckets (per route and per application). After a restart the hour
 * starts over.
 */
import { LATENCY_BUCKETS, quantile } from '../../proxy/traffic.js';
import type { RouteTraffic, Traffic } from '../../proxy/traffic.js';
import type { MetricsSources } from '../metrics.js';

const HOUR_S = 3600;
const SLOT_S = 10;
const NB = LATENCY_BUCKETS.length + 1;

interface Totals {
  requests: number;
  classes: number[];
  gw: number[];
  up: number[];
  limited: number;
  upErrors: number;
  bytes: number;
}

const zero = (): Totals => ({ requests: 0, classes: [0, 0, 0, 0, 0, 0], gw: new Array<number>(NB).fill(0), up: new Array<number>(NB).fill(0), limited: 0, upErrors: 0, bytes: 0 });

function addInto(a: Totals, b: Totals): void {
  a.requests += b.requests;
  for (let i = 0; i < 6; i++) a.classes[i] += b.classes[i];
  for (let i = 0; i < NB; i++) {
    a.gw[i] += b.gw[i];
    a.up[i] += b.up[i];
  }
  a.limited += b.limited;
  a.upErrors += b.upErrors;
  a.bytes += b.bytes;
}

function snapshotOf(t: RouteTraffic): Totals {
  return { requests: t.requests, classes: [...t.classes], gw: [...t.gateway.counts], up: [...t.upstream.counts], limited: t.rateLimited, upErrors: t.upstreamErrors, bytes: t.bytesOut };
}

function minus(now: Totals, before: Totals | undefined): Totals {
  if (!before) return now;
  return {
    requests: now.requests - before.requests,
    classes: now.classes.map((v, i) => v - before.classes[i]),
    gw: now.gw.map((v, i) => v - before.gw[i]),
    up: now.up.map((v, i) => v - before.up[i]),
    limited: now.limited - before.limited,
    upErrors: now.upErrors - before.upErrors,
    bytes: now.bytes - before.bytes,
  };
}

interface Second extends Totals {
  t: number;
  cacheHits: number;
  cacheMisses: number;
  servedBytes: number;
}

interface Slot {
  t: number;
  routes: Map<string, Totals>;
  apps: Map<string, number>;
}

const round = (x: number | undefined, digits = 6) => (x === undefined ? null : Math.round(x * 10 ** digits) / 10 ** digits);

export class History {
  readonly #traffic: Traffic;
  readonly #cache: MetricsSources['cache'];
  readonly #seconds: Second[] = [];
  readonly #slots: Slot[] = [];
  #open: Second;
  #openSlot: Slot;
  #prev = new Map<string, Totals>();
  #prevApps = new Map<string, number>();
  #prevCache = { hits: 0, misses: 0, servedBytes: 0 };
  readonly #timer: NodeJS.Timeout;
  readonly #now: () => number;

  constructor(src: MetricsSources, now: () => number = Date.now) {
    this.#traffic = src.traffic;
    this.#cache = src.cache;
    this.#now = now;
    const s = Math.floor(now() / 1000);
    this.#open = { ...zero(), t: s, cacheHits: 0, cacheMisses: 0, servedBytes: 0 };
    this.#openSlot = { t: s - (s % SLOT_S), routes: new Map(), apps: new Map() };
    this.#absorb();
    this.#open = { ...zero(), t: s, cacheHits: 0, cacheMisses: 0, servedBytes: 0 };
    this.#openSlot = { t: s - (s % SLOT_S), routes: new Map(), apps: new Map() };
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Moves what the counters gained since the last look into the open buckets. */
  #absorb(): void {
    for (const t of this.#traffic.all()) {
      if (t.requests === (this.#prev.get(t.name)?.requests ?? 0)) continue;
      const snap = snapshotOf(t);
      const d = minus(snap, this.#prev.get(t.name));
      this.#prev.set(t.name, snap);
      addInto(this.#open, d);
      const r = this.#openSlot.routes.get(t.name);
      if (r) addInto(r, d);
      else this.#openSlot.routes.set(t.name, d);
      if (t.apps) {
        for (const [id, n] of t.apps) {
          const key = `${t.name}\u0000${id}`;
          const dn = n - (this.#prevApps.get(key) ?? 0);
          if (dn === 0) continue;
          this.#prevApps.set(key, n);
          this.#openSlot.apps.set(id, (this.#openSlot.apps.get(id) ?? 0) + dn);
        }
      }
    }
    const c = this.#cache();
    if (c) {
      const hits = c.hit + c.stale;
      this.#open.cacheHits += hits - this.#prevCache.hits;
      this.#open.cacheMisses += c.miss - this.#prevCache.misses;
      this.#open.servedBytes += c.servedBytes - this.#prevCache.servedBytes;
      this.#prevCache = { hits, misses: c.miss, servedBytes: c.servedBytes };
    }
  }

  #tick(): void {
    this.#absorb();
    const s = Math.floor(this.#now() / 1000);
    if (s === this.#open.t) return;
    this.#seconds.push(this.#open);
    while (this.#seconds.length && this.#seconds[0].t <= s - HOUR_S) this.#seconds.shift();
    this.#open = { ...zero(), t: s, cacheHits: 0, cacheMisses: 0, servedBytes: 0 };
    const slotT = s - (s % SLOT_S);
    if (slotT !== this.#openSlot.t) {
      this.#slots.push(this.#openSlot);
      while (this.#slots.length && this.#slots[0].t <= s - HOUR_S) this.#slots.shift();
      this.#openSlot = { t: slotT, routes: new Map(), apps: new Map() };
    }
  }

  /** The dashboard's JSON: per-second series after `since` (unix seconds), and the hour's summaries. */
  stats(since: number) {
    this.#absorb();
    const seconds = [...this.#seconds, this.#open];
    const series = { t: [] as number[], rps: [] as number[], c2xx: [] as number[], c3xx: [] as number[], c4xx: [] as number[], c5xx: [] as number[], p50: [] as (number | null)[], p99: [] as (number | null)[], up50: [] as (number | null)[], up99: [] as (number | null)[], hitRatio: [] as (number | null)[], servedBytes: [] as number[], limited: [] as number[] };
    const hour = zero();
    let cacheHits = 0;
    let cacheMisses = 0;
    let servedBytes = 0;
    // The open second is not over: its point is sent again, complete, on the next poll.
    const lastClosed = this.#seconds.length ? this.#seconds[this.#seconds.length - 1].t : since;
    for (const b of seconds) {
      addInto(hour, b);
      cacheHits += b.cacheHits;
      cacheMisses += b.cacheMisses;
      servedBytes += b.servedBytes;
      if (b.t <= since || b === this.#open) continue;
      series.t.push(b.t);
      series.rps.push(b.requests);
      series.c2xx.push(b.classes[2]);
      series.c3xx.push(b.classes[3]);
      series.c4xx.push(b.classes[4]);
      series.c5xx.push(b.classes[5] + b.classes[0] + b.classes[1]);
      series.p50.push(round(quantile(b.gw, 0.5)));
      series.p99.push(round(quantile(b.gw, 0.99)));
      series.up50.push(round(quantile(b.up, 0.5)));
      series.up99.push(round(quantile(b.up, 0.99)));
      series.hitRatio.push(b.cacheHits + b.cacheMisses ? round(b.cacheHits / (b.cacheHits + b.cacheMisses), 4) : null);
      series.servedBytes.push(b.servedBytes);
      series.limited.push(b.limited);
    }
    const routes = new Map<string, Totals>();
    const apps = new Map<string, number>();
    const slots = [...this.#slots, this.#openSlot];
    for (const slot of slots) {
      for (const [name, d] of slot.routes) {
        const r = routes.get(name);
        if (r) addInto(r, d);
        else {
          const n = zero();
          addInto(n, d);
          routes.set(name, n);
        }
      }
      for (const [id, n] of slot.apps) apps.set(id, (apps.get(id) ?? 0) + n);
    }
    const cache = this.#cache();
    const quota = new Map<string, { remaining: number; at: number }>();
    for (const t of this.#traffic.routes.values()) if (t.quotaRemaining !== undefined) quota.set(t.name, { remaining: t.quotaRemaining, at: t.quotaAt });
    return {
      now: this.#now(),
      startedAt: this.#traffic.startedAt,
      lastClosed,
      series,
      hour: {
        requests: hour.requests,
        classes: { '2xx': hour.classes[2], '3xx': hour.classes[3], '4xx': hour.classes[4], '5xx': hour.classes[5], other: hour.classes[0] + hour.classes[1] },
        p50: round(quantile(hour.gw, 0.5)),
        p99: round(quantile(hour.gw, 0.99)),
        upstreamP50: round(quantile(hour.up, 0.5)),
        upstreamP99: round(quantile(hour.up, 0.99)),
        rateLimited: hour.limited,
        upstreamErrors: hour.upErrors,
        bytesOut: hour.bytes,
        cache: cache ? { hits: cacheHits, misses: cacheMisses, hitRatio: cacheHits + cacheMisses ? round(cacheHits / (cacheHits + cacheMisses), 4) : null, servedBytes, upstreamCallsSaved: cacheHits } : null,
      },
      routes: [...routes]
        .map(([name, r]) => ({
          name: name === '' ? '(unmatched)' : name,
          requests: r.requests,
          classes: { '2xx': r.classes[2], '3xx': r.classes[3], '4xx': r.classes[4], '5xx': r.classes[5] },
          p50: round(quantile(r.gw, 0.5)),
          p99: round(quantile(r.gw, 0.99)),
          upstreamP50: round(quantile(r.up, 0.5)),
          upstreamP99: round(quantile(r.up, 0.99)),
          rateLimited: r.limited,
          upstreamErrors: r.upErrors,
          upstreamQuota: quota.get(name) ?? null,
        }))
        .sort((a, b) => b.requests - a.requests),
      // Start of each 10-second slot of the hour; every application's `series` counts its requests per slot.
      applicationSlots: slots.map((s) => s.t),
      applications: [...apps]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 10)
        .map(([id, requests]) => ({ id, requests, series: slots.map((s) => s.apps.get(id) ?? 0) })),
    };
  }
}
