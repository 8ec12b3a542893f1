/** Usage counters per application, metric and calendar period (not versioned: no cache depends on them). */
import { periodStart } from '../periods.js';
import { iso, toUsageRow } from '../rows.js';
import { checkPeriod } from '../validate.js';
import { PERIODS, StoreError } from '../types.js';
import type { Period, UsageIncrement, UsageQuery, UsageRow } from '../types.js';
import { INSERT_CHUNK } from './context.js';
import type { SqlContext } from './context.js';

export class UsageRepository {
  constructor(private readonly ctx: SqlContext) {}

  async record(batch: readonly UsageIncrement[]): Promise<void> {
    // Sum rows with the same key first: Postgres refuses an upsert touching one row twice in a statement.
    const sums = new Map<string, { application_id: string; metric: string; period: Period; period_start: string; value: number }>();
    for (const inc of batch) {
      if (!Number.isSafeInteger(inc.delta)) throw new StoreError('INVALID', 'usage delta must be an integer.');
      if (inc.delta === 0) continue;
      const period = checkPeriod(inc.period);
      const start = iso(periodStart(period, inc.periodStart));
      const key = `${inc.appId}\u0000${inc.metric}\u0000${period}\u0000${start}`;
      const row = sums.get(key);
      if (row) row.value += inc.delta;
      else sums.set(key, { application_id: inc.appId, metric: inc.metric, period, period_start: start, value: inc.delta });
    }
    const rows = [...sums.values()];
    if (rows.length === 0) return;
    await this.ctx.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('usage')
          .values(rows.slice(i, i + INSERT_CHUNK))
          .onConflict((oc) =>
            oc.columns(['application_id', 'metric', 'period', 'period_start']).doUpdateSet((eb) => ({ value: eb('usage.value', '+', eb.ref('excluded.value')) })),
          )
          .execute();
      }
    });
  }

  async get(appId: string, query: UsageQuery = {}): Promise<UsageRow[]> {
    let q = this.ctx.db.selectFrom('usage').selectAll().where('application_id', '=', appId);
    if (query.metric !== undefined) q = q.where('metric', '=', query.metric);
    if (query.period !== undefined) q = q.where('period', '=', checkPeriod(query.period));
    const since = query.since;
    if (since !== undefined) {
      // Each period's counter that contains `since` starts at a different instant.
      const periods: readonly Period[] = query.period ? [query.period] : PERIODS;
      q = q.where((eb) => eb.or(periods.map((p) => eb.and([eb('period', '=', p), eb('period_start', '>=', iso(periodStart(p, since)))]))));
    }
    const rows = await q.orderBy('metric').orderBy('period').orderBy('period_start').execute();
    return rows.map(toUsageRow);
  }
}
