/**
 * The `rate-limit` policy. Each limit is a counter per (consumer, metric, window start) in the limiter store
 * (memory, or Redis shared by every instance); a request is admitted when every counter it touches stays
 * within its max after the increment. A refused request gives its increments back, so it uses no quota.
 *
 * Plan limits are calendar-aligned like 3scale (periodStart); throttles are short windows smoothed with a
 * sliding-window estimate (previous window weighted by the share of it still inside the last second/minute).
 * Headers: draft-ietf-httpapi-ratelimit-headers (https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/),
 * `RateLimit-Policy` lists every limit, `RateLimit` tells the tightest; 429 carries Retry-After (RFC 9110 §10.2.3).
 */
import type { MetricDeltas } from '../../consumers/metrics.js';
import { GatewayError } from '../../errors.js';
import { nextPeriodStart, periodStart } from '../../store/periods.js';
import type { Period, Plan } from '../../store/types.js';
import { requestMetrics, withoutConsumers } from '../consumers.js';
import type { ConsumerServices } from '../../consumers/services.js';
import { definePolicy } from '../types.js';
import type { Exchange, PolicyHooks } from '../types.js';
import { RATE_LIMIT_OUTCOME } from './outcome.js';
import type { RateLimitOutcome } from './outcome.js';
import { rateLimitInfo } from './schema.js';
import type { RateLimitOptions, RouteLimit } from './schema.js';

const REFUSED: RateLimitOutcome = { refused: true };
const FIXED_MS: Partial<Record<string, number>> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };
/** Log a failing limiter store at most this often. */
const STORE_ERROR_LOG_MS = 10_000;
/** Retry-After of the 503 answered while the limiter store is unreachable and the route fails closed. */
const RETRY_AFTER_UNAVAILABLE_S = 1;

type Window = 'second' | Period;

interface Rule {
  /** Counter key prefix: scope + subject placeholder filled per request. */
  scope: string;
  metric: string;
  window: Window;
  max: number;
  /** Sliding-window throttle (previous window weighted in). */
  sliding: boolean;
  by: 'consumer' | 'ip';
  name: string;
}

interface Check {
  rule: Rule;
  key: string;
  points: number;
  ttl: number;
  start: number;
  end: number | null;
  prevKey?: string;
}

interface Outcome {
  check: Check;
  count: number;
  ok: boolean;
}

/** [start, end) of the window containing `now`, ms; end null for eternity. */
export function windowAt(w: Window, now: number): [number, number | null] {
  const fixed = FIXED_MS[w];
  if (fixed !== undefined) {
    const start = now - (now % fixed);
    return [start, start + fixed];
  }
  const d = new Date(now);
  return [periodStart(w as Period, d).getTime(), nextPeriodStart(w as Period, d)?.getTime() ?? null];
}

/**
 * The counter of a plan limit (scope `p` in checksFor below): the 3scale API's authorize/authrep/report
 * read and add to these same keys, so the proxy and authrep see one usage and one limit.
 */
export function planCounterKey(appId: string, metric: string, period: Period, windowStart: number): string {
  return `p:${appId}:${metric}:${period}:${windowStart}`;
}

const compiledPlans = new WeakMap<Plan, Rule[]>();

function planRules(plan: Plan): Rule[] {
  let rules = compiledPlans.get(plan);
  if (!rules) {
    rules = [
      ...plan.limits.map((l) => ({ scope: `p`, metric: l.metric, window: l.period, max: l.max, sliding: false, by: 'consumer' as const, name: `${l.metric}-${l.period}` })),
      ...plan.throttles.map((t) => ({
        scope: 't',
        metric: t.metric ?? 'hits',
        window: t.per,
        max: t.max,
        sliding: true,
        by: 'consumer' as const,
        name: `${t.metric ?? 'hits'}-per-${t.per}`,
      })),
    ];
    compiledPlans.set(plan, rules);
  }
  return rules;
}

function routeRules(routeName: string, limits: RouteLimit[]): Rule[] {
  return limits.map((l, i) => ({ scope: `r:${routeName}:${i}`, metric: l.metric, window: l.per, max: l.max, sliding: false, by: l.by, name: `${routeName}-${l.metric}-${l.per}${l.by === 'ip' ? '-ip' : ''}` }));
}

function compileRateLimit(opts: RateLimitOptions, svc: ConsumerServices, routeName: string, log: { warn(o: object, m: string): void }): PolicyHooks {
  const { directory, limiter } = svc;
  const routeLevel = routeRules(routeName, opts.limits);
  let lastStoreError = 0;

  function checksFor(ex: Exchange, rules: readonly Rule[], deltas: MetricDeltas, now: number, out: Check[]): void {
    for (const rule of rules) {
      let points = 0;
      for (const [m, d] of deltas) if (m === rule.metric) points += d;
      if (points <= 0) continue;
      const subject = rule.by === 'ip' || !ex.consumer ? `ip:${ex.clientIp}` : ex.consumer.id;
      const [start, end] = windowAt(rule.window, now);
      const base = `${rule.scope}:${subject}:${rule.metric}:${rule.window}`;
      const check: Check = { rule, key: `${base}:${start}`, points, start, end, ttl: end === null ? 0 : Math.ceil((end - now) / 1000) + 1 };
      if (rule.sliding && end !== null) check.prevKey = `${base}:${start - (end - start)}`;
      out.push(check);
    }
  }

  function outcome(c: Check, n: number, prev: number, now: number): Outcome {
    // Sliding estimate: the part of the previous window still inside the last full window.
    const weight = c.prevKey && c.end !== null ? 1 - (now - c.start) / (c.end - c.start) : 0;
    const total = n + Math.floor(prev * weight);
    return { check: c, count: total, ok: total <= c.rule.max };
  }

  /** Counts one check; sync with the memory store, a Promise with Redis. */
  function count(c: Check, now: number): Outcome | Promise<Outcome> {
    const r = limiter.consume(c.key, c.points, c.ttl);
    const prev = c.prevKey ? limiter.peek(c.prevKey) : 0;
    if (r instanceof Promise || prev instanceof Promise) return Promise.all([r, prev]).then(([a, p]) => outcome(c, a.count, p, now));
    return outcome(c, r.count, prev, now);
  }

  function storeFailed(err: unknown): void {
    if (Date.now() - lastStoreError > STORE_ERROR_LOG_MS) {
      lastStoreError = Date.now();
      log.warn({ err: (err as Error).message, failOpen: opts.failOpen }, 'limiter store failed');
    }
    // Fail closed: a temporary condition (the limiter store is away), so 503 with a hint when to retry.
    if (!opts.failOpen) throw new GatewayError('TG_LIMITS_UNAVAILABLE', undefined, { headers: { 'retry-after': String(RETRY_AFTER_UNAVAILABLE_S) } });
  }

  function run(ex: Exchange, checks: Check[], now: number): void | Promise<void> {
    if (limiter.consumeMany) return runMany(ex, checks, now, limiter.consumeMany.bind(limiter));
    const outcomes: (Outcome | Promise<Outcome>)[] = [];
    let pending = false;
    try {
      for (const c of checks) {
        const o = count(c, now);
        if (o instanceof Promise) pending = true;
        outcomes.push(o);
      }
    } catch (err) {
      return storeFailed(err);
    }
    // eslint-disable-next-line @typescript-eslint/await-thenable -- sync values on purpose: the memory limiter answers without a promise
    if (pending) return Promise.all(outcomes).then((all) => decide(ex, all, now), storeFailed);
    decide(ex, outcomes as Outcome[], now);
  }

  /** Redis: every counter of the request in one script (one round trip), previous windows peeked alongside. */
  async function runMany(ex: Exchange, checks: Check[], now: number, consumeMany: NonNullable<typeof limiter.consumeMany>): Promise<void> {
    let counts: number[];
    let prevs: number[];
    try {
      [counts, prevs] = await Promise.all([
        consumeMany(checks.map((c) => ({ key: c.key, points: c.points, ttlSeconds: c.ttl }))),
        // eslint-disable-next-line @typescript-eslint/await-thenable -- a memory peek is a plain number
        Promise.all(checks.map((c) => (c.prevKey ? limiter.peek(c.prevKey) : 0))),
      ]);
    } catch (err) {
      return storeFailed(err);
    }
    decide(ex, checks.map((c, i) => outcome(c, counts[i], prevs[i], now)), now);
  }

  function decide(ex: Exchange, outcomes: Outcome[], now: number): void {
    let refused: Outcome[] | undefined;
    for (const o of outcomes) if (!o.ok) (refused ??= []).push(o);
    if (opts.headers || opts.legacyHeaders || refused) setHeaders(ex, outcomes, now, refused !== undefined);
    if (!refused) return;
    ex.set(RATE_LIMIT_OUTCOME, REFUSED);
    for (const o of outcomes) {
      try {
        const r = limiter.refund(o.check.key, o.check.points, o.check.ttl);
        if (r instanceof Promise) r.catch(() => undefined);
      } catch {
        // A refund that fails only leaves the quota a little more used: never worth failing the answer.
      }
    }
    const retry = Math.max(...refused.map((o) => (o.check.end === null ? 0 : Math.ceil((o.check.end - now) / 1000))));
    const t = refused[0].check.rule;
    throw new GatewayError('TG_RATE_LIMITED', `Rate limit exceeded: at most ${t.max} ${t.metric} per ${t.window}.`, {
      headers: retry > 0 ? { 'retry-after': String(retry) } : undefined,
    });
  }

  function setHeaders(ex: Exchange, outcomes: Outcome[], now: number, refused: boolean): void {
    // The tightest limit: the fewest units left (then the soonest reset).
    let tight: Outcome | undefined;
    let tightLeft = Infinity;
    for (const o of outcomes) {
      const left = Math.max(0, o.check.rule.max - o.count);
      if (left < tightLeft || (left === tightLeft && tight && (o.check.end ?? Infinity) < (tight.check.end ?? Infinity))) {
        tight = o;
        tightLeft = left;
      }
    }
    if (!tight) return;
    if (refused) tightLeft = 0;
    const reset = tight.check.end === null ? undefined : Math.max(0, Math.ceil((tight.check.end - now) / 1000));
    if (opts.headers) {
      const policies = outcomes.map((o) => {
        const w = o.check.end === null ? '' : `;w=${Math.round((o.check.end - o.check.start) / 1000)}`;
        return `"${o.check.rule.name}";q=${o.check.rule.max}${w}`;
      });
      ex.addResponseHeader('ratelimit-policy', policies.join(', '));
      ex.addResponseHeader('ratelimit', `"${tight.check.rule.name}";r=${tightLeft}${reset === undefined ? '' : `;t=${reset}`}`);
    }
    if (opts.legacyHeaders) {
      ex.addResponseHeader('x-ratelimit-limit', String(tight.check.rule.max));
      ex.addResponseHeader('x-ratelimit-remaining', String(tightLeft));
      if (reset !== undefined) ex.addResponseHeader('x-ratelimit-reset', String(reset));
    }
  }

  return {
    onRequest(ex) {
      const now = Date.now();
      const checks: Check[] = [];
      const withDeltas = (deltas: MetricDeltas): void | Promise<void> => {
        if (routeLevel.length) checksFor(ex, routeLevel, deltas, now, checks);
        const planId = opts.plan ? ex.consumer?.plan : undefined;
        if (planId === undefined) return checks.length ? run(ex, checks, now) : undefined;
        const withPlan = (plan: Plan | undefined): void | Promise<void> => {
          if (!plan) {
            log.warn({ plan: planId }, 'the consumer\u2019s plan does not exist');
            throw new GatewayError('TG_INTERNAL', 'The consumer\u2019s plan is not configured.');
          }
          checksFor(ex, planRules(plan), deltas, now, checks);
          return checks.length ? run(ex, checks, now) : undefined;
        };
        const p = directory.plan(planId);
        return p instanceof Promise ? p.then(withPlan) : withPlan(p);
      };
      const d = requestMetrics(ex, directory);
      return d instanceof Promise ? d.then(withDeltas) : withDeltas(d);
    },
  };
}

export const rateLimitPolicy = definePolicy({
  ...rateLimitInfo,
  create(opts, deps) {
    const svc = deps.services.consumers;
    if (!svc) return withoutConsumers('rate-limit');
    return compileRateLimit(opts, svc, deps.routeName, deps.log);
  },
});
