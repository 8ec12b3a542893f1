/** Plans: their calendar limits and short-window throttles. */
import { toPlan } from '../rows.js';
import { checkId, checkLimits, checkName, checkThrottles } from '../validate.js';
import type { Origin, Plan, PlanInput } from '../types.js';
import { requireService } from './context.js';
import type { Outcome, SqlContext, WriteScope } from './context.js';

export class PlanRepository {
  constructor(private readonly ctx: SqlContext) {}

  upsert(input: PlanInput): Promise<Plan> {
    return this.ctx.write(async (w) => (await this.upsertIn(w, input, 'api')).plan);
  }

  async upsertIn({ trx, touch, now }: WriteScope, input: PlanInput, origin: Origin): Promise<{ plan: Plan; outcome: Outcome }> {
    const id = checkId('plan', input.id);
    const existing = await trx.selectFrom('plans').selectAll().where('id', '=', id).executeTakeFirst();
    const serviceId = input.serviceId === undefined ? (existing?.service_id ?? null) : input.serviceId;
    if (serviceId !== null) await requireService(trx, serviceId);
    const next = {
      name: checkName('plan name', input.name ?? existing?.name ?? id),
      service_id: serviceId,
      limits: input.limits === undefined ? (existing?.limits ?? '[]') : JSON.stringify(checkLimits(input.limits)),
      throttles: input.throttles === undefined ? (existing?.throttles ?? '[]') : JSON.stringify(checkThrottles(input.throttles)),
    };
    if (existing) {
      const same = existing.name === next.name && existing.service_id === next.service_id && existing.limits === next.limits && existing.throttles === next.throttles;
      if (same) return { plan: toPlan(existing), outcome: 'unchanged' };
      await trx.updateTable('plans').set({ ...next, updated_at: now }).where('id', '=', id).execute();
      touch('plan', id);
      return { plan: toPlan({ ...existing, ...next, updated_at: now }), outcome: 'updated' };
    }
    const row = { id, ...next, origin, created_at: now, updated_at: now };
    await trx.insertInto('plans').values(row).execute();
    touch('plan', id);
    return { plan: toPlan(row), outcome: 'created' };
  }

  async get(id: string): Promise<Plan | undefined> {
    const row = await this.ctx.db.selectFrom('plans').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toPlan(row);
  }

  async list(filter: { serviceId?: string } = {}): Promise<Plan[]> {
    let q = this.ctx.db.selectFrom('plans').selectAll().orderBy('id');
    if (filter.serviceId !== undefined) q = q.where('service_id', '=', filter.serviceId);
    return (await q.execute()).map(toPlan);
  }
}
