/** Applications (consumers): their plan, service and state. Their credentials are in credentials.ts. */
import type { Kysely } from 'kysely';
import { generateId } from '../secrets.js';
import { toApplication } from '../rows.js';
import type { Database } from '../schema.js';
import { checkId, checkName } from '../validate.js';
import { StoreError } from '../types.js';
import type { Application, ApplicationState, CreateApplicationInput, Origin, UpdateApplicationInput } from '../types.js';
import { requireService } from './context.js';
import type { Outcome, SqlContext, WriteScope } from './context.js';

/** Checks plan and service; an application without a service inherits its plan's. */
async function resolvePlanService(db: Kysely<Database>, planId: string, serviceId: string | null | undefined): Promise<string | null> {
  const plan = await db.selectFrom('plans').select(['id', 'service_id']).where('id', '=', planId).executeTakeFirst();
  if (!plan) throw new StoreError('INVALID', `plan '${planId}' does not exist.`);
  const service = serviceId ?? plan.service_id;
  if (service !== null) await requireService(db, service);
  if (plan.service_id !== null && service !== plan.service_id) {
    throw new StoreError('INVALID', `plan '${planId}' belongs to service '${plan.service_id}', not '${service}'.`);
  }
  return service;
}

export class ApplicationRepository {
  constructor(private readonly ctx: SqlContext) {}

  create(input: CreateApplicationInput): Promise<Application> {
    return this.ctx.write(async (w) => {
      const id = input.id === undefined ? generateId('app_') : checkId('application', input.id);
      return this.insert(w, { ...input, id }, 'api');
    });
  }

  async insert({ trx, touch, now }: WriteScope, input: CreateApplicationInput & { id: string }, origin: Origin): Promise<Application> {
    const exists = await trx.selectFrom('applications').select('id').where('id', '=', input.id).executeTakeFirst();
    if (exists) throw new StoreError('CONFLICT', `application '${input.id}' already exists.`);
    const state = input.state ?? 'active';
    if (state !== 'active' && state !== 'suspended') throw new StoreError('INVALID', `state must be 'active' or 'suspended'.`);
    const row = {
      id: input.id,
      name: checkName('application name', input.name ?? input.id),
      plan_id: input.planId,
      service_id: await resolvePlanService(trx, input.planId, input.serviceId),
      state,
      description: input.description ?? null,
      origin,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('applications').values(row).execute();
    touch('application', row.id);
    return toApplication(row);
  }

  async get(id: string): Promise<Application | undefined> {
    const row = await this.ctx.db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toApplication(row);
  }

  async list(filter: { serviceId?: string; planId?: string; state?: ApplicationState } = {}): Promise<Application[]> {
    let q = this.ctx.db.selectFrom('applications').selectAll().orderBy('id');
    if (filter.serviceId !== undefined) q = q.where('service_id', '=', filter.serviceId);
    if (filter.planId !== undefined) q = q.where('plan_id', '=', filter.planId);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    return (await q.execute()).map(toApplication);
  }

  update(id: string, patch: UpdateApplicationInput): Promise<Application> {
    return this.ctx.write(async (w) => (await this.updateIn(w, id, patch)).application);
  }

  delete(id: string): Promise<boolean> {
    return this.ctx.write(async ({ trx, touch }) => {
      const creds = await trx.selectFrom('credentials').select('id').where('application_id', '=', id).execute();
      // Credentials go with it (ON DELETE CASCADE); every instance's directory evicts them from the change log.
      const res = await trx.deleteFrom('applications').where('id', '=', id).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      for (const c of creds) touch('credential', c.id);
      touch('application', id);
      return true;
    });
  }

  async updateIn({ trx, touch, now }: WriteScope, id: string, patch: UpdateApplicationInput): Promise<{ application: Application; outcome: Outcome }> {
    const existing = await trx.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
    if (!existing) throw new StoreError('NOT_FOUND', `application '${id}' does not exist.`);
    if (patch.state !== undefined && patch.state !== 'active' && patch.state !== 'suspended') {
      throw new StoreError('INVALID', `state must be 'active' or 'suspended'.`);
    }
    const next = {
      name: patch.name === undefined ? existing.name : checkName('application name', patch.name),
      plan_id: patch.planId ?? existing.plan_id,
      state: patch.state ?? existing.state,
      description: patch.description === undefined ? existing.description : patch.description,
    };
    const serviceId = patch.planId === undefined ? existing.service_id : await resolvePlanService(trx, next.plan_id, existing.service_id);
    const same =
      next.name === existing.name && next.plan_id === existing.plan_id && next.state === existing.state && next.description === existing.description && serviceId === existing.service_id;
    if (same) return { application: toApplication(existing), outcome: 'unchanged' };
    await trx.updateTable('applications').set({ ...next, service_id: serviceId, updated_at: now }).where('id', '=', id).execute();
    touch('application', id);
    return { application: toApplication({ ...existing, ...next, service_id: serviceId, updated_at: now }), outcome: 'updated' };
  }
}
