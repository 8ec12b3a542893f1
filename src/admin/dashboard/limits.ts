/**
 * Usage against plan limits for the dashboard: for the applications it lists, each plan limit (metric, period,
 * max) and the counter's current value, read from the limiter store with `peek` at the same keys the
 * rate-limit policy and the 3scale authorize endpoint use (planCounterKey over the calendar window), so
 * reading never changes a count.
 */
import type { ConsumerServices } from '../../consumers/services.js';
import { planCounterKey } from '../../policies/rate-limit/policy.js';
import { nextPeriodStart, periodStart } from '../../store/periods.js';
import type { Period } from '../../store/types.js';

interface LimitUsage {
  metric: string;
  period: Period;
  max: number;
  current: number;
  /** When this window ends (ms since the epoch); null for `eternity`. */
  resetsAt: number | null;
}

export interface AppPlanUsage {
  id: string;
  plan: string | null;
  limits: LimitUsage[];
  /** Set when the counters could not be read (e.g. Redis down); `limits` then carries no values. */
  error?: string;
}

export async function planUsage(svc: ConsumerServices, appIds: readonly string[], now: number): Promise<AppPlanUsage[]> {
  const d = new Date(now);
  return Promise.all(
    appIds.map(async (id): Promise<AppPlanUsage> => {
      try {
        const app = await svc.directory.application(id);
        const plan = app ? await svc.directory.plan(app.planId) : undefined;
        if (!plan) return { id, plan: app?.planId ?? null, limits: [] };
        const limits = await Promise.all(
          plan.limits.map(async (l): Promise<LimitUsage> => {
            const start = periodStart(l.period, d).getTime();
            const current = await svc.limiter.peek(planCounterKey(id, l.metric, l.period, start));
            return { metric: l.metric, period: l.period, max: l.max, current, resetsAt: nextPeriodStart(l.period, d)?.getTime() ?? null };
          }),
        );
        return { id, plan: plan.name, limits };
      } catch {
        return { id, plan: null, limits: [], error: 'limit counters are unavailable' };
      }
    }),
  );
}
