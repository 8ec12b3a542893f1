/** Services, their metrics and their mapping rules (3scale's service configuration). */
import { generateId, generateSecret, hashesEqual, SECRET_PREFIX, sha256Hex } from '../secrets.js';
import { num, toMappingRule, toMetric, toService } from '../rows.js';
import { checkId, checkMethod, checkMetricName, checkName, checkPattern, checkSecret, plausibleSecret } from '../validate.js';
import { StoreError } from '../types.js';
import type { CreateServiceInput, MappingRule, Metric, Origin, Service } from '../types.js';
import { HITS, requireService } from './context.js';
import type { Outcome, SqlContext, WriteScope } from './context.js';

export type MappingRuleInput = { method: string; pattern: string; metric?: string; delta?: number; last?: boolean; position?: number };

export class ServiceRepository {
  constructor(private readonly ctx: SqlContext) {}

  create(input: CreateServiceInput): Promise<{ service: Service; token?: string }> {
    return this.ctx.write(async (w) => {
      const token = input.token === false ? undefined : input.token === undefined ? generateSecret(SECRET_PREFIX.service_token) : checkSecret('service token', input.token);
      const row = await this.insert(w, { id: input.id, name: input.name, tokenHash: token && sha256Hex(token) }, 'api');
      return token === undefined ? { service: toService(row) } : { service: toService(row), token };
    });
  }

  /** Inserts a service with its `hits` metric. */
  async insert({ trx, touch, now }: WriteScope, input: { id?: string; name?: string; tokenHash?: string }, origin: Origin) {
    const id = input.id === undefined ? generateId('svc_') : checkId('service', input.id);
    const exists = await trx.selectFrom('services').select('id').where('id', '=', id).executeTakeFirst();
    if (exists) throw new StoreError('CONFLICT', `service '${id}' already exists.`);
    const row = { id, name: checkName('service name', input.name ?? id), token_hash: input.tokenHash ?? null, origin, created_at: now, updated_at: now };
    await trx.insertInto('services').values(row).execute();
    await trx.insertInto('metrics').values({ service_id: id, name: HITS, description: 'Requests' }).execute();
    touch('service', id);
    touch('metric', `${id}/${HITS}`);
    return row;
  }

  async get(id: string): Promise<Service | undefined> {
    const row = await this.ctx.db.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toService(row);
  }

  async list(): Promise<Service[]> {
    return (await this.ctx.db.selectFrom('services').selectAll().orderBy('id').execute()).map(toService);
  }

  async verifyToken(serviceId: string, token: string): Promise<boolean> {
    if (!plausibleSecret(token)) return false;
    const row = await this.ctx.db.selectFrom('services').select('token_hash').where('id', '=', serviceId).executeTakeFirst();
    return row?.token_hash != null && hashesEqual(row.token_hash, sha256Hex(token));
  }

  upsertMetric(serviceId: string, metric: { name: string; description?: string | null }): Promise<Metric> {
    return this.ctx.write(async (w) => {
      await requireService(w.trx, serviceId);
      const out = await this.upsertMetricIn(w, serviceId, metric);
      return out.metric;
    });
  }

  async upsertMetricIn({ trx, touch }: WriteScope, serviceId: string, m: { name: string; description?: string | null }): Promise<{ metric: Metric; outcome: Outcome }> {
    const name = checkMetricName(m.name);
    const existing = await trx.selectFrom('metrics').selectAll().where('service_id', '=', serviceId).where('name', '=', name).executeTakeFirst();
    const description = m.description === undefined ? (existing?.description ?? null) : m.description;
    const row = { service_id: serviceId, name, description };
    if (existing && existing.description === description) return { metric: toMetric(existing), outcome: 'unchanged' };
    if (existing) await trx.updateTable('metrics').set({ description }).where('service_id', '=', serviceId).where('name', '=', name).execute();
    else await trx.insertInto('metrics').values(row).execute();
    touch('metric', `${serviceId}/${name}`);
    return { metric: toMetric(row), outcome: existing ? 'updated' : 'created' };
  }

  async listMetrics(serviceId: string): Promise<Metric[]> {
    return (await this.ctx.db.selectFrom('metrics').selectAll().where('service_id', '=', serviceId).orderBy('name').execute()).map(toMetric);
  }

  createMappingRule(serviceId: string, rule: MappingRuleInput): Promise<MappingRule> {
    return this.ctx.write(async (w) => {
      await requireService(w.trx, serviceId);
      return this.insertMappingRule(w, serviceId, rule);
    });
  }

  async insertMappingRule({ trx, touch }: WriteScope, serviceId: string, rule: MappingRuleInput): Promise<MappingRule> {
    const metric = checkMetricName(rule.metric ?? HITS);
    const known = await trx.selectFrom('metrics').select('name').where('service_id', '=', serviceId).where('name', '=', metric).executeTakeFirst();
    if (!known) throw new StoreError('INVALID', `metric '${metric}' does not exist on service '${serviceId}'.`);
    const delta = rule.delta ?? 1;
    if (!Number.isSafeInteger(delta) || delta < 0) throw new StoreError('INVALID', 'mapping rule delta must be a non-negative integer.');
    let position = rule.position;
    if (position === undefined) {
      const max = await trx
        .selectFrom('mapping_rules')
        .select((eb) => eb.fn.max('position').as('max'))
        .where('service_id', '=', serviceId)
        .executeTakeFirst();
      position = max?.max == null ? 0 : num(max.max) + 1;
    }
    const row = {
      id: generateId('mr_'),
      service_id: serviceId,
      method: checkMethod(rule.method),
      pattern: checkPattern(rule.pattern),
      metric,
      delta,
      position,
      last: rule.last ? 1 : 0,
    };
    await trx.insertInto('mapping_rules').values(row).execute();
    touch('mapping_rule', row.id);
    return toMappingRule(row);
  }

  async listMappingRules(serviceId: string): Promise<MappingRule[]> {
    const rows = await this.ctx.db.selectFrom('mapping_rules').selectAll().where('service_id', '=', serviceId).orderBy('position').orderBy('id').execute();
    return rows.map(toMappingRule);
  }

  deleteMappingRule(id: string): Promise<boolean> {
    return this.ctx.write(async ({ trx, touch }) => {
      const res = await trx.deleteFrom('mapping_rules').where('id', '=', id).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      touch('mapping_rule', id);
      return true;
    });
  }
}
