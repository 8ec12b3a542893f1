/**
 * The Store on SQL through kysely; the same code runs on SQLite and PostgreSQL (see schema.ts for the
 * portable column encodings). Every write runs in a transaction that first bumps the one-row version
 * counter: on Postgres that row lock orders writers, so versions are handed out in commit order and a
 * poller never skips a change; on SQLite it takes the write lock up front, so a transaction never has to
 * upgrade a read lock (which fails at once with SQLITE_BUSY instead of waiting).
 */
import type { Kysely, Transaction } from 'kysely';
import { burnPasswordCheck, generateId, generateSecret, hashesEqual, hashPassword, secretHint, SECRET_PREFIX, sha256Hex, verifyPassword } from './secrets.js';
import { periodStart } from './periods.js';
import { iso, num, toApplication, toCredential, toMappingRule, toMetric, toOAuthToken, toPlan, toService, toUsageRow, toUser } from './rows.js';
import {
  checkId,
  checkLimits,
  checkMethod,
  checkMetricName,
  checkName,
  checkGrants,
  checkPattern,
  checkPeriod,
  checkScopes,
  checkRedirectUris,
  checkSecret,
  checkThrottles,
  plausibleSecret,
} from './validate.js';
import type { Database } from './schema.js';
import { CREDENTIAL_KINDS, PERIODS, StoreError } from './types.js';
import type { OAuth2ClientType } from './types.js';
import type {
  Application,
  ChangeEntity,
  ChangeSet,
  CreateApplicationInput,
  CreateCredentialInput,
  CreatedCredential,
  CreateServiceInput,
  CreateUserInput,
  Credential,
  CredentialMatch,
  Declared,
  DeclaredApplication,
  DeclaredCredential,
  DeclaredService,
  DeclaredUser,
  LimitCounter,
  LimitCounterDelta,
  MappingRule,
  Metric,
  OAuthToken,
  OAuthTokenMatch,
  Origin,
  Period,
  Plan,
  PlanInput,
  PresentedCredential,
  RevokeOAuthTokenResult,
  SaveOAuthTokenInput,
  Service,
  Store,
  SyncReport,
  UpdateApplicationInput,
  UsageIncrement,
  UsageQuery,
  UsageRow,
  User,
} from './types.js';

/** How many versions of the change log are kept; a cursor older than that gets `reset: true`. */
const CHANGE_LOG_RETAIN = 10_000;
const PRUNE_EVERY = 500;
/** Rows per INSERT: well under SQLite's and Postgres' bound-parameter limits (5 columns per row). */
const USAGE_CHUNK = 200;
const HITS = 'hits';

type Trx = Transaction<Database>;
type Touch = (entity: ChangeEntity, id: string) => void;
type Outcome = 'created' | 'updated' | 'unchanged';
/** A declared user with the scrypt work done: either the stored hash it matched, or a fresh hash. */
type PreparedUser = { user: DeclaredUser; verifiedHash?: string; newHash?: string };

/** Thrown inside a write transaction that changed nothing, to roll back the version bump. */
class NothingChanged<T> {
  constructor(readonly value: T) {}
}

/** A key's scopes as stored: NULL for an unscoped key (all scopes), so keys made before scopes keep their meaning. */
function keyScopes(scopes: readonly string[] | undefined): string | null {
  return scopes?.length ? JSON.stringify(checkScopes(scopes)) : null;
}

function isConstraintError(err: unknown, kind: 'unique' | 'foreign'): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (kind === 'unique') return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

export interface SqlStoreOptions {
  dialect: 'sqlite' | 'postgres';
  /** Clock, for tests of expiry. */
  now?: () => Date;
  /** Called by close() after the kysely instance is destroyed. */
  onClose?: () => Promise<void> | void;
}

export class SqlStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly #db: Kysely<Database>;
  readonly #now: () => Date;
  readonly #onClose: (() => Promise<void> | void) | undefined;

  constructor(db: Kysely<Database>, options: SqlStoreOptions) {
    this.#db = db;
    this.dialect = options.dialect;
    this.#now = options.now ?? (() => new Date());
    this.#onClose = options.onClose;
  }

  // ---- write plumbing -------------------------------------------------------------------------------

  async #write<T>(fn: (trx: Trx, touch: Touch, now: string) => Promise<T>): Promise<T> {
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const bumped = await trx
          .updateTable('store_version')
          .set((eb) => ({ version: eb('version', '+', 1) }))
          .where('id', '=', 1)
          .returning('version')
          .executeTakeFirstOrThrow();
        const version = num(bumped.version);
        const touched = new Map<string, { entity: ChangeEntity; id: string }>();
        const touch: Touch = (entity, id) => touched.set(`${entity}\u0000${id}`, { entity, id });
        const value = await fn(trx, touch, iso(this.#now()));
        if (touched.size === 0) throw new NothingChanged(value);
        await trx
          .insertInto('changes')
          .values([...touched.values()].map((c) => ({ version, entity: c.entity, entity_id: c.id })))
          .execute();
        if (version % PRUNE_EVERY === 0) {
          await trx.deleteFrom('changes').where('version', '<=', version - CHANGE_LOG_RETAIN).execute();
        }
        return value;
      });
    } catch (err) {
      if (err instanceof NothingChanged) return err.value as T;
      if (err instanceof StoreError) throw err;
      // Driver messages may quote row values (hashes, ids): keep them in `cause` only.
      if (isConstraintError(err, 'unique')) throw new StoreError('CONFLICT', 'That already exists.', { cause: err });
      if (isConstraintError(err, 'foreign')) throw new StoreError('INVALID', 'A referenced row does not exist.', { cause: err });
      throw err;
    }
  }

  async #requireService(db: Kysely<Database>, id: string): Promise<void> {
    const row = await db.selectFrom('services').select('id').where('id', '=', id).executeTakeFirst();
    if (!row) throw new StoreError('INVALID', `service '${id}' does not exist.`);
  }

  // ---- services, metrics, mapping rules ---------------------------------------------------------------

  createService(input: CreateServiceInput): Promise<{ service: Service; token?: string }> {
    return this.#write(async (trx, touch, now) => {
      const token = input.token === false ? undefined : input.token === undefined ? generateSecret(SECRET_PREFIX.service_token) : checkSecret('service token', input.token);
      const row = await this.#insertService(trx, touch, now, { id: input.id, name: input.name, tokenHash: token && sha256Hex(token) }, 'api');
      return token === undefined ? { service: toService(row) } : { service: toService(row), token };
    });
  }

  async #insertService(trx: Trx, touch: Touch, now: string, input: { id?: string; name?: string; tokenHash?: string }, origin: Origin) {
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

  async getService(id: string): Promise<Service | undefined> {
    const row = await this.#db.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toService(row);
  }

  async listServices(): Promise<Service[]> {
    return (await this.#db.selectFrom('services').selectAll().orderBy('id').execute()).map(toService);
  }

  async verifyServiceToken(serviceId: string, token: string): Promise<boolean> {
    if (!plausibleSecret(token)) return false;
    const row = await this.#db.selectFrom('services').select('token_hash').where('id', '=', serviceId).executeTakeFirst();
    return row?.token_hash != null && hashesEqual(row.token_hash, sha256Hex(token));
  }

  upsertMetric(serviceId: string, metric: { name: string; description?: string | null }): Promise<Metric> {
    return this.#write(async (trx, touch) => {
      await this.#requireService(trx, serviceId);
      const out = await this.#upsertMetricIn(trx, touch, serviceId, metric);
      return out.metric;
    });
  }

  async #upsertMetricIn(trx: Trx, touch: Touch, serviceId: string, m: { name: string; description?: string | null }): Promise<{ metric: Metric; outcome: Outcome }> {
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
    return (await this.#db.selectFrom('metrics').selectAll().where('service_id', '=', serviceId).orderBy('name').execute()).map(toMetric);
  }

  createMappingRule(
    serviceId: string,
    rule: { method: string; pattern: string; metric?: string; delta?: number; last?: boolean; position?: number },
  ): Promise<MappingRule> {
    return this.#write(async (trx, touch) => {
      await this.#requireService(trx, serviceId);
      return this.#insertMappingRule(trx, touch, serviceId, rule);
    });
  }

  async #insertMappingRule(
    trx: Trx,
    touch: Touch,
    serviceId: string,
    rule: { method: string; pattern: string; metric?: string; delta?: number; last?: boolean; position?: number },
  ): Promise<MappingRule> {
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
    const rows = await this.#db.selectFrom('mapping_rules').selectAll().where('service_id', '=', serviceId).orderBy('position').orderBy('id').execute();
    return rows.map(toMappingRule);
  }

  deleteMappingRule(id: string): Promise<boolean> {
    return this.#write(async (trx, touch) => {
      const res = await trx.deleteFrom('mapping_rules').where('id', '=', id).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      touch('mapping_rule', id);
      return true;
    });
  }

  // ---- plans -------------------------------------------------------------------------------------------

  upsertPlan(input: PlanInput): Promise<Plan> {
    return this.#write(async (trx, touch, now) => (await this.#upsertPlanIn(trx, touch, now, input, 'api')).plan);
  }

  async #upsertPlanIn(trx: Trx, touch: Touch, now: string, input: PlanInput, origin: Origin): Promise<{ plan: Plan; outcome: Outcome }> {
    const id = checkId('plan', input.id);
    const existing = await trx.selectFrom('plans').selectAll().where('id', '=', id).executeTakeFirst();
    const serviceId = input.serviceId === undefined ? (existing?.service_id ?? null) : input.serviceId;
    if (serviceId !== null) await this.#requireService(trx, serviceId);
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

  async getPlan(id: string): Promise<Plan | undefined> {
    const row = await this.#db.selectFrom('plans').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toPlan(row);
  }

  async listPlans(filter: { serviceId?: string } = {}): Promise<Plan[]> {
    let q = this.#db.selectFrom('plans').selectAll().orderBy('id');
    if (filter.serviceId !== undefined) q = q.where('service_id', '=', filter.serviceId);
    return (await q.execute()).map(toPlan);
  }

  // ---- applications ------------------------------------------------------------------------------------

  /** Checks plan and service; an application without a service inherits its plan's. */
  async #resolvePlanService(db: Kysely<Database>, planId: string, serviceId: string | null | undefined): Promise<string | null> {
    const plan = await db.selectFrom('plans').select(['id', 'service_id']).where('id', '=', planId).executeTakeFirst();
    if (!plan) throw new StoreError('INVALID', `plan '${planId}' does not exist.`);
    const service = serviceId ?? plan.service_id;
    if (service !== null) await this.#requireService(db, service);
    if (plan.service_id !== null && service !== plan.service_id) {
      throw new StoreError('INVALID', `plan '${planId}' belongs to service '${plan.service_id}', not '${service}'.`);
    }
    return service;
  }

  createApplication(input: CreateApplicationInput): Promise<Application> {
    return this.#write(async (trx, touch, now) => {
      const id = input.id === undefined ? generateId('app_') : checkId('application', input.id);
      return this.#insertApplication(trx, touch, now, { ...input, id }, 'api');
    });
  }

  async #insertApplication(trx: Trx, touch: Touch, now: string, input: CreateApplicationInput & { id: string }, origin: Origin): Promise<Application> {
    const exists = await trx.selectFrom('applications').select('id').where('id', '=', input.id).executeTakeFirst();
    if (exists) throw new StoreError('CONFLICT', `application '${input.id}' already exists.`);
    const state = input.state ?? 'active';
    if (state !== 'active' && state !== 'suspended') throw new StoreError('INVALID', `state must be 'active' or 'suspended'.`);
    const row = {
      id: input.id,
      name: checkName('application name', input.name ?? input.id),
      plan_id: input.planId,
      service_id: await this.#resolvePlanService(trx, input.planId, input.serviceId),
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

  async getApplication(id: string): Promise<Application | undefined> {
    const row = await this.#db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toApplication(row);
  }

  async listApplications(filter: { serviceId?: string; planId?: string; state?: Application['state'] } = {}): Promise<Application[]> {
    let q = this.#db.selectFrom('applications').selectAll().orderBy('id');
    if (filter.serviceId !== undefined) q = q.where('service_id', '=', filter.serviceId);
    if (filter.planId !== undefined) q = q.where('plan_id', '=', filter.planId);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    return (await q.execute()).map(toApplication);
  }

  updateApplication(id: string, patch: UpdateApplicationInput): Promise<Application> {
    return this.#write(async (trx, touch, now) => (await this.#updateApplicationIn(trx, touch, now, id, patch)).application);
  }

  deleteApplication(id: string): Promise<boolean> {
    return this.#write(async (trx, touch) => {
      const creds = await trx.selectFrom('credentials').select('id').where('application_id', '=', id).execute();
      // Credentials go with it (ON DELETE CASCADE); every instance's directory evicts them from the change log.
      const res = await trx.deleteFrom('applications').where('id', '=', id).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      for (const c of creds) touch('credential', c.id);
      touch('application', id);
      return true;
    });
  }

  async #updateApplicationIn(trx: Trx, touch: Touch, now: string, id: string, patch: UpdateApplicationInput): Promise<{ application: Application; outcome: Outcome }> {
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
    const serviceId = patch.planId === undefined ? existing.service_id : await this.#resolvePlanService(trx, next.plan_id, existing.service_id);
    const same =
      next.name === existing.name && next.plan_id === existing.plan_id && next.state === existing.state && next.description === existing.description && serviceId === existing.service_id;
    if (same) return { application: toApplication(existing), outcome: 'unchanged' };
    await trx.updateTable('applications').set({ ...next, service_id: serviceId, updated_at: now }).where('id', '=', id).execute();
    touch('application', id);
    return { application: toApplication({ ...existing, ...next, service_id: serviceId, updated_at: now }), outcome: 'updated' };
  }

  // ---- credentials -------------------------------------------------------------------------------------

  createCredential(applicationId: string, input: CreateCredentialInput): Promise<CreatedCredential> {
    return this.#write(async (trx, touch, now) => {
      const app = await trx.selectFrom('applications').select('id').where('id', '=', applicationId).executeTakeFirst();
      if (!app) throw new StoreError('NOT_FOUND', `application '${applicationId}' does not exist.`);
      return this.#insertCredential(trx, touch, now, applicationId, input, 'api');
    });
  }

  async #insertCredential(trx: Trx, touch: Touch, now: string, applicationId: string, input: CreateCredentialInput, origin: Origin): Promise<CreatedCredential> {
    if (!CREDENTIAL_KINDS.includes(input.kind)) throw new StoreError('INVALID', `credential kind must be one of ${CREDENTIAL_KINDS.join(', ')}.`);
    if (input.expiresAt != null && Number.isNaN(input.expiresAt.getTime())) throw new StoreError('INVALID', 'expiresAt is not a valid date.');
    let secret: string | undefined;
    let clientId: string | null = null;
    let clientType: string | null = null;
    let redirectUris: string[] = [];
    let grants: string | null = null;
    let scopes: string | null = null;
    if (input.kind === 'oauth2_client') {
      if (input.clientType !== 'confidential' && input.clientType !== 'public') throw new StoreError('INVALID', `clientType must be 'confidential' or 'public'.`);
      clientType = input.clientType;
      clientId = input.clientId === undefined ? generateSecret(SECRET_PREFIX.client_id).slice(0, 24) : checkId('OAuth2 client', input.clientId);
      redirectUris = checkRedirectUris(input.redirectUris ?? []);
      if (input.grants !== undefined) grants = JSON.stringify(checkGrants(clientType as OAuth2ClientType, input.grants));
      if (input.scopes !== undefined) scopes = JSON.stringify(checkScopes(input.scopes));
      const taken = await trx.selectFrom('credentials').select('id').where('client_id', '=', clientId).executeTakeFirst();
      if (taken) throw new StoreError('CONFLICT', `OAuth2 client '${clientId}' already exists.`);
      // RFC 6749 §2.1: a public client cannot keep a secret, so it gets none.
      if (clientType === 'public' && input.secret !== undefined) throw new StoreError('INVALID', 'a public OAuth2 client has no secret.');
      if (clientType === 'confidential') secret = input.secret === undefined ? generateSecret(SECRET_PREFIX.oauth2_client) : checkSecret('client secret', input.secret);
    } else {
      secret = input.secret === undefined ? generateSecret(SECRET_PREFIX[input.kind]) : checkSecret('key', input.secret);
      scopes = keyScopes(input.scopes);
    }
    const secretHash = secret === undefined ? null : sha256Hex(secret);
    if (secretHash !== null) {
      const taken = await trx.selectFrom('credentials').select('id').where('kind', '=', input.kind).where('secret_hash', '=', secretHash).executeTakeFirst();
      // Does not say where the key is in use: that would confirm a guessed key to its guesser.
      if (taken) throw new StoreError('CONFLICT', 'that key is already in use.');
    }
    const row = {
      id: generateId('cred_'),
      application_id: applicationId,
      kind: input.kind,
      client_id: clientId,
      client_type: clientType,
      redirect_uris: JSON.stringify(redirectUris),
      secret_hash: secretHash,
      hint: secret === undefined ? null : secretHint(secret),
      label: input.label ?? null,
      origin,
      created_at: now,
      expires_at: input.expiresAt == null ? null : iso(input.expiresAt),
      revoked_at: null,
      grants,
      scopes,
    };
    await trx.insertInto('credentials').values(row).execute();
    touch('credential', row.id);
    touch('application', applicationId);
    const credential = toCredential(row);
    return secret === undefined ? { credential } : { credential, secret };
  }

  async getCredential(id: string): Promise<Credential | undefined> {
    const row = await this.#db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toCredential(row);
  }

  async listCredentials(applicationId: string): Promise<Credential[]> {
    const rows = await this.#db.selectFrom('credentials').selectAll().where('application_id', '=', applicationId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toCredential);
  }

  revokeCredential(id: string): Promise<boolean> {
    return this.#write(async (trx, touch, now) => {
      const row = await trx.selectFrom('credentials').select(['id', 'application_id', 'revoked_at']).where('id', '=', id).executeTakeFirst();
      if (!row) return false;
      if (row.revoked_at === null) {
        await trx.updateTable('credentials').set({ revoked_at: now }).where('id', '=', id).execute();
        touch('credential', id);
        touch('application', row.application_id);
      }
      return true;
    });
  }

  async findCredential(presented: PresentedCredential): Promise<CredentialMatch | undefined> {
    const db = this.#db;
    const base = db.selectFrom('credentials').selectAll();
    let row: Awaited<ReturnType<typeof base.executeTakeFirst>>;
    switch (presented.kind) {
      case 'api_key':
      case 'user_key': {
        if (!plausibleSecret(presented.key)) return undefined;
        const hash = sha256Hex(presented.key);
        // Found by index on the hash; the final comparison is still constant-time.
        const found = await base.where('kind', '=', presented.kind).where('secret_hash', '=', hash).executeTakeFirst();
        row = found?.secret_hash != null && hashesEqual(found.secret_hash, hash) ? found : undefined;
        break;
      }
      case 'app_key': {
        if (!plausibleSecret(presented.appKey)) return undefined;
        const hash = sha256Hex(presented.appKey);
        const keys = await base.where('application_id', '=', presented.appId).where('kind', '=', 'app_key').execute();
        // Compare against every key, so timing does not depend on which one matched.
        for (const k of keys) if (k.secret_hash !== null && hashesEqual(k.secret_hash, hash) && !row) row = k;
        break;
      }
      case 'oauth2_client': {
        const found = await base.where('kind', '=', 'oauth2_client').where('client_id', '=', presented.clientId).executeTakeFirst();
        if (found?.client_type === 'public') row = found;
        else if (found?.secret_hash != null && plausibleSecret(presented.clientSecret)) {
          row = hashesEqual(found.secret_hash, sha256Hex(presented.clientSecret)) ? found : undefined;
        }
        break;
      }
      default:
        return undefined;
    }
    if (!row || row.revoked_at !== null) return undefined;
    const now = iso(this.#now());
    if (row.expires_at !== null && row.expires_at <= now) return undefined;
    const app = await db.selectFrom('applications').selectAll().where('id', '=', row.application_id).executeTakeFirst();
    if (!app) return undefined;
    const plan = await db.selectFrom('plans').selectAll().where('id', '=', app.plan_id).executeTakeFirst();
    const application = toApplication(app);
    return { credential: toCredential(row), application, plan: plan && toPlan(plan), state: application.state };
  }

  // ---- users -------------------------------------------------------------------------------------------

  async createUser(input: CreateUserInput): Promise<User> {
    checkName('username', input.username);
    checkSecret('password', input.password);
    // Hash outside the transaction: scrypt is slow on purpose and must not hold the write lock.
    const passwordHash = await hashPassword(input.password);
    return this.#write((trx, touch, now) => this.#insertUser(trx, touch, now, { ...input, passwordHash }, 'api'));
  }

  async #insertUser(trx: Trx, touch: Touch, now: string, input: Omit<CreateUserInput, 'password'> & { passwordHash: string }, origin: Origin): Promise<User> {
    const id = input.id === undefined ? generateId('usr_') : checkId('user', input.id);
    const taken = await trx.selectFrom('users').select('id').where((eb) => eb.or([eb('id', '=', id), eb('username', '=', input.username)])).executeTakeFirst();
    if (taken) throw new StoreError('CONFLICT', `user '${input.username}' already exists.`);
    const applicationId = input.applicationId ?? null;
    if (applicationId !== null) {
      const app = await trx.selectFrom('applications').select('id').where('id', '=', applicationId).executeTakeFirst();
      if (!app) throw new StoreError('INVALID', `application '${applicationId}' does not exist.`);
    }
    const row = { id, username: input.username, password_hash: input.passwordHash, application_id: applicationId, origin, created_at: now, updated_at: now };
    await trx.insertInto('users').values(row).execute();
    touch('user', id);
    return toUser(row);
  }

  #userColumns = ['id', 'username', 'application_id', 'origin', 'created_at', 'updated_at'] as const;

  async getUser(idOrUsername: string): Promise<User | undefined> {
    const row = await this.#db
      .selectFrom('users')
      .select(this.#userColumns)
      .where((eb) => eb.or([eb('id', '=', idOrUsername), eb('username', '=', idOrUsername)]))
      .executeTakeFirst();
    return row && toUser(row);
  }

  async listUsers(): Promise<User[]> {
    return (await this.#db.selectFrom('users').select(this.#userColumns).orderBy('username').execute()).map(toUser);
  }

  async setUserPassword(idOrUsername: string, password: string): Promise<void> {
    checkSecret('password', password);
    const passwordHash = await hashPassword(password);
    await this.#write(async (trx, touch, now) => {
      const row = await trx
        .selectFrom('users')
        .select('id')
        .where((eb) => eb.or([eb('id', '=', idOrUsername), eb('username', '=', idOrUsername)]))
        .executeTakeFirst();
      if (!row) throw new StoreError('NOT_FOUND', `user '${idOrUsername}' does not exist.`);
      await trx.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', row.id).execute();
      touch('user', row.id);
    });
  }

  async verifyUser(username: string, password: string): Promise<User | undefined> {
    if (!plausibleSecret(password)) return undefined;
    const row = await this.#db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    if (!row) {
      await burnPasswordCheck(password);
      return undefined;
    }
    return (await verifyPassword(password, row.password_hash)) ? toUser(row) : undefined;
  }

  // ---- OAuth2 tokens -----------------------------------------------------------------------------------

  saveOAuthToken(input: SaveOAuthTokenInput): Promise<{ token: OAuthToken; replaced: number }> {
    if (!plausibleSecret(input.accessToken) || (input.refreshToken !== undefined && !plausibleSecret(input.refreshToken))) {
      return Promise.reject(new StoreError('INVALID', 'token values must be 1-512 characters.'));
    }
    const scopes = checkScopes(input.scopes);
    return this.#write(async (trx, touch, now) => {
      const cred = await trx
        .selectFrom('credentials')
        .select(['id', 'client_id', 'application_id', 'kind'])
        .where('id', '=', input.credentialId)
        .executeTakeFirst();
      if (!cred || cred.kind !== 'oauth2_client' || cred.client_id === null) throw new StoreError('INVALID', `OAuth2 client credential '${input.credentialId}' does not exist.`);
      // The previous tokens of this client and user stop working as this one is issued (same transaction).
      let previous = trx.selectFrom('oauth_tokens').select('id').where('client_id', '=', cred.client_id).where('revoked_at', 'is', null);
      previous = input.userId === null ? previous.where('user_id', 'is', null) : previous.where('user_id', '=', input.userId);
      const old = await previous.execute();
      for (const o of old) {
        await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('id', '=', o.id).execute();
        touch('oauth_token', o.id);
      }
      const row = {
        id: generateId('tok_'),
        access_hash: sha256Hex(input.accessToken),
        refresh_hash: input.refreshToken === undefined ? null : sha256Hex(input.refreshToken),
        credential_id: cred.id,
        client_id: cred.client_id,
        application_id: cred.application_id,
        user_id: input.userId,
        scopes: scopes.join(' '),
        access_expires_at: iso(input.accessExpiresAt),
        refresh_expires_at: input.refreshExpiresAt == null || input.refreshToken === undefined ? null : iso(input.refreshExpiresAt),
        created_at: now,
        revoked_at: null,
      };
      await trx.insertInto('oauth_tokens').values(row).execute();
      touch('oauth_token', row.id);
      return { token: toOAuthToken(row), replaced: old.length };
    });
  }

  async findOAuthToken(value: string, kind: 'access' | 'refresh'): Promise<OAuthTokenMatch | undefined> {
    if (!plausibleSecret(value)) return undefined;
    const hash = sha256Hex(value);
    const column = kind === 'access' ? 'access_hash' : 'refresh_hash';
    const row = await this.#db.selectFrom('oauth_tokens').selectAll().where(column, '=', hash).executeTakeFirst();
    const stored = row?.[column];
    if (!row || stored == null || !hashesEqual(stored, hash) || row.revoked_at !== null) return undefined;
    const now = iso(this.#now());
    const expires = kind === 'access' ? row.access_expires_at : row.refresh_expires_at;
    if (expires !== null && expires <= now) return undefined;
    const cred = await this.#db.selectFrom('credentials').selectAll().where('id', '=', row.credential_id).executeTakeFirst();
    // A revoked or expired client takes its tokens with it.
    if (!cred || cred.revoked_at !== null || (cred.expires_at !== null && cred.expires_at <= now)) return undefined;
    const app = await this.#db.selectFrom('applications').selectAll().where('id', '=', cred.application_id).executeTakeFirst();
    if (!app) return undefined;
    const plan = await this.#db.selectFrom('plans').selectAll().where('id', '=', app.plan_id).executeTakeFirst();
    const user = row.user_id === null ? undefined : await this.#db.selectFrom('users').select('username').where('id', '=', row.user_id).executeTakeFirst();
    return { token: toOAuthToken(row), credential: toCredential(cred), application: toApplication(app), plan: plan && toPlan(plan), username: user?.username ?? null };
  }

  revokeOAuthToken(value: string, credentialId: string): Promise<RevokeOAuthTokenResult> {
    if (!plausibleSecret(value)) return Promise.resolve('unknown');
    const hash = sha256Hex(value);
    return this.#write(async (trx, touch, now) => {
      const row = await trx
        .selectFrom('oauth_tokens')
        .select(['id', 'credential_id', 'revoked_at'])
        .where((eb) => eb.or([eb('access_hash', '=', hash), eb('refresh_hash', '=', hash)]))
        .executeTakeFirst();
      if (!row) return 'unknown';
      if (row.credential_id !== credentialId) return 'other_client';
      if (row.revoked_at !== null) return 'already_revoked';
      await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('id', '=', row.id).execute();
      touch('oauth_token', row.id);
      return 'revoked';
    });
  }

  revokeOAuthTokensOf(credentialId: string): Promise<number> {
    return this.#write(async (trx, touch, now) => {
      const rows = await trx.selectFrom('oauth_tokens').select('id').where('credential_id', '=', credentialId).where('revoked_at', 'is', null).execute();
      for (const r of rows) {
        await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('id', '=', r.id).execute();
        touch('oauth_token', r.id);
      }
      return rows.length;
    });
  }

  async pruneOAuthTokens(now: Date): Promise<number> {
    const t = iso(now);
    const res = await this.#db
      .deleteFrom('oauth_tokens')
      .where((eb) =>
        eb.or([
          eb('revoked_at', 'is not', null),
          eb.and([eb('access_expires_at', '<=', t), eb.or([eb('refresh_expires_at', 'is', null), eb('refresh_expires_at', '<=', t)])]),
        ]),
      )
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  // ---- change tracking ---------------------------------------------------------------------------------

  async version(): Promise<number> {
    const row = await this.#db.selectFrom('store_version').select('version').where('id', '=', 1).executeTakeFirstOrThrow();
    return num(row.version);
  }

  async changesSince(cursor: number): Promise<ChangeSet> {
    // Version first, then changes up to it: a change committed in between shows up next time, not never.
    const version = await this.version();
    if (cursor === version) return { version, changes: [], reset: false };
    if (cursor > version || cursor < version - CHANGE_LOG_RETAIN) return { version, changes: [], reset: true };
    const rows = await this.#db
      .selectFrom('changes')
      .selectAll()
      .where('version', '>', cursor)
      .where('version', '<=', version)
      .orderBy('version')
      .execute();
    return { version, changes: rows.map((r) => ({ version: num(r.version), entity: r.entity as ChangeEntity, id: r.entity_id })), reset: false };
  }

  // ---- usage -------------------------------------------------------------------------------------------

  async recordUsage(batch: readonly UsageIncrement[]): Promise<void> {
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
    await this.#db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += USAGE_CHUNK) {
        await trx
          .insertInto('usage')
          .values(rows.slice(i, i + USAGE_CHUNK))
          .onConflict((oc) =>
            oc.columns(['application_id', 'metric', 'period', 'period_start']).doUpdateSet((eb) => ({ value: eb('usage.value', '+', eb.ref('excluded.value')) })),
          )
          .execute();
      }
    });
  }

  async getUsage(appId: string, query: UsageQuery = {}): Promise<UsageRow[]> {
    let q = this.#db.selectFrom('usage').selectAll().where('application_id', '=', appId);
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
  // ---- limit counters ------------------------------------------------------------------------------------

  async addLimitCounters(batch: readonly LimitCounterDelta[]): Promise<void> {
    // Summed per key first, as recordUsage does: one upsert must not touch a row twice on Postgres.
    const sums = new Map<string, { key: string; value: number; expires_at: string | null }>();
    for (const c of batch) {
      if (!Number.isSafeInteger(c.delta)) throw new StoreError('INVALID', 'limit counter delta must be an integer.');
      const row = sums.get(c.key);
      if (row) row.value += c.delta;
      else sums.set(c.key, { key: c.key, value: c.delta, expires_at: c.expiresAt && iso(c.expiresAt) });
    }
    const rows = [...sums.values()].filter((r) => r.value !== 0);
    if (rows.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += USAGE_CHUNK) {
        await trx
          .insertInto('limit_counters')
          .values(rows.slice(i, i + USAGE_CHUNK))
          .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ value: eb('limit_counters.value', '+', eb.ref('excluded.value')) })))
          .execute();
      }
    });
  }

  async loadLimitCounters(now: Date): Promise<LimitCounter[]> {
    const rows = await this.#db
      .selectFrom('limit_counters')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', iso(now))]))
      .execute();
    return rows.map((r) => ({ key: r.key, value: num(r.value), expiresAt: r.expires_at === null ? null : new Date(r.expires_at) }));
  }

  async pruneLimitCounters(now: Date): Promise<number> {
    const res = await this.#db.deleteFrom('limit_counters').where('expires_at', '<=', iso(now)).executeTakeFirst();
    return Number(res.numDeletedRows);
  }


  // ---- config sync -------------------------------------------------------------------------------------

  async syncDeclared(declared: Declared): Promise<SyncReport> {
    // scrypt runs before the transaction (it is slow on purpose and must not hold the write lock).
    const users = await Promise.all((declared.users ?? []).map((u) => this.#prepareUser(u)));
    return this.#write(async (trx, touch, now) => {
      const report: SyncReport = { created: 0, updated: 0, unchanged: 0, revoked: 0 };
      const count = (o: Outcome): void => void report[o]++;
      for (const s of declared.services ?? []) await this.#syncService(trx, touch, now, s, count);
      for (const p of declared.plans ?? []) count((await this.#upsertPlanIn(trx, touch, now, p, 'config')).outcome);
      for (const a of declared.applications ?? []) await this.#syncApplication(trx, touch, now, a, count, report);
      for (const u of users) count(await this.#syncUser(trx, touch, now, u));
      return report;
    });
  }

  async #syncService(trx: Trx, touch: Touch, now: string, s: DeclaredService, count: (o: Outcome) => void): Promise<void> {
    const id = checkId('service', s.id);
    const tokenHash = s.token === undefined ? undefined : sha256Hex(checkSecret(`token of service '${id}'`, s.token));
    const existing = await trx.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirst();
    if (!existing) {
      await this.#insertService(trx, touch, now, { id, name: s.name, tokenHash }, 'config');
      count('created');
    } else {
      const name = s.name === undefined ? existing.name : checkName('service name', s.name);
      const token_hash = tokenHash ?? existing.token_hash;
      if (name === existing.name && token_hash === existing.token_hash) count('unchanged');
      else {
        await trx.updateTable('services').set({ name, token_hash, updated_at: now }).where('id', '=', id).execute();
        touch('service', id);
        count('updated');
      }
    }
    for (const m of s.metrics ?? []) count((await this.#upsertMetricIn(trx, touch, id, m)).outcome);
    if (s.mappingRules !== undefined) {
      const current = await trx.selectFrom('mapping_rules').selectAll().where('service_id', '=', id).orderBy('position').orderBy('id').execute();
      const want = s.mappingRules.map((r, position) => ({
        method: checkMethod(r.method),
        pattern: checkPattern(r.pattern),
        metric: r.metric ?? HITS,
        delta: r.delta ?? 1,
        last: r.last ? 1 : 0,
        position,
      }));
      const key = (r: { method: string; pattern: string; metric: string; delta: number; last: number; position: number }): string =>
        JSON.stringify([r.method, r.pattern, r.metric, r.delta, r.last, r.position]);
      if (current.map(key).join('\n') === want.map(key).join('\n')) count('unchanged');
      else {
        for (const r of current) touch('mapping_rule', r.id);
        await trx.deleteFrom('mapping_rules').where('service_id', '=', id).execute();
        for (const r of want) await this.#insertMappingRule(trx, touch, id, { ...r, last: r.last === 1 });
        count('updated');
      }
    }
  }

  async #syncApplication(trx: Trx, touch: Touch, now: string, a: DeclaredApplication, count: (o: Outcome) => void, report: SyncReport): Promise<void> {
    const id = checkId('application', a.id);
    const existing = await trx.selectFrom('applications').select('id').where('id', '=', id).executeTakeFirst();
    if (!existing) {
      await this.#insertApplication(trx, touch, now, { id, name: a.name, planId: a.plan, serviceId: a.service, state: a.state, description: a.description }, 'config');
      count('created');
    } else {
      // Only what the config says: a CLI suspension survives a restart unless the config sets `state`.
      const patch: UpdateApplicationInput = { planId: a.plan };
      if (a.name !== undefined) patch.name = a.name;
      if (a.state !== undefined) patch.state = a.state;
      if (a.description !== undefined) patch.description = a.description;
      count((await this.#updateApplicationIn(trx, touch, now, id, patch)).outcome);
    }
    const keep = new Set<string>();
    for (const c of a.credentials ?? []) {
      const { credentialId, outcome } = await this.#syncCredential(trx, touch, now, id, c);
      keep.add(credentialId);
      count(outcome);
    }
    if (a.keepUndeclared) return;
    const stale = await trx
      .selectFrom('credentials')
      .select('id')
      .where('application_id', '=', id)
      .where('origin', '=', 'config')
      .where('revoked_at', 'is', null)
      .execute();
    for (const s of stale) {
      if (keep.has(s.id)) continue;
      await trx.updateTable('credentials').set({ revoked_at: now }).where('id', '=', s.id).execute();
      touch('credential', s.id);
      touch('application', id);
      report.revoked++;
    }
  }

  async #syncCredential(trx: Trx, touch: Touch, now: string, appId: string, c: DeclaredCredential): Promise<{ credentialId: string; outcome: Outcome }> {
    const existing =
      c.kind === 'oauth2_client'
        ? await trx.selectFrom('credentials').selectAll().where('client_id', '=', c.clientId).executeTakeFirst()
        : await trx.selectFrom('credentials').selectAll().where('kind', '=', c.kind).where('secret_hash', '=', sha256Hex(checkSecret('key', c.secret))).executeTakeFirst();
    if (!existing) {
      const input: CreateCredentialInput =
        c.kind === 'oauth2_client'
          ? { kind: c.kind, clientId: c.clientId, clientType: c.clientType, secret: c.secret, redirectUris: c.redirectUris, grants: c.grants, scopes: c.scopes, label: c.label }
          : { kind: c.kind, secret: c.secret, label: c.label, scopes: c.scopes };
      const created = await this.#insertCredential(trx, touch, now, appId, input, 'config');
      return { credentialId: created.credential.id, outcome: 'created' };
    }
    // Does not name the other application: the config author may not own it.
    if (existing.application_id !== appId) throw new StoreError('CONFLICT', `a credential declared for application '${appId}' belongs to another application.`);
    // A revoked credential stays revoked: revocation is deliberate; rotate the key in the config instead.
    if (c.kind !== 'oauth2_client') {
      const scopes = keyScopes(c.scopes);
      if (existing.scopes === scopes) return { credentialId: existing.id, outcome: 'unchanged' };
      await trx.updateTable('credentials').set({ scopes }).where('id', '=', existing.id).execute();
      touch('credential', existing.id);
      touch('application', appId);
      return { credentialId: existing.id, outcome: 'updated' };
    }
    if (c.clientType === 'public' && c.secret !== undefined) throw new StoreError('INVALID', 'a public OAuth2 client has no secret.');
    const next = {
      client_type: c.clientType,
      redirect_uris: JSON.stringify(checkRedirectUris(c.redirectUris ?? [])),
      secret_hash: c.secret === undefined ? null : sha256Hex(checkSecret('client secret', c.secret)),
      hint: c.secret === undefined ? null : secretHint(c.secret),
      label: c.label ?? null,
      grants: c.grants === undefined ? null : JSON.stringify(checkGrants(c.clientType, c.grants)),
      scopes: c.scopes === undefined ? null : JSON.stringify(checkScopes(c.scopes)),
    };
    if (c.clientType === 'confidential' && next.secret_hash === null) throw new StoreError('INVALID', `confidential OAuth2 client '${c.clientId}' needs a secret.`);
    const same =
      existing.client_type === next.client_type &&
      existing.redirect_uris === next.redirect_uris &&
      existing.secret_hash === next.secret_hash &&
      existing.label === next.label &&
      existing.grants === next.grants &&
      existing.scopes === next.scopes;
    if (same) return { credentialId: existing.id, outcome: 'unchanged' };
    await trx.updateTable('credentials').set(next).where('id', '=', existing.id).execute();
    touch('credential', existing.id);
    touch('application', appId);
    return { credentialId: existing.id, outcome: 'updated' };
  }

  async #prepareUser(user: DeclaredUser): Promise<PreparedUser> {
    checkName('username', user.username);
    checkSecret(`password of user '${user.username}'`, user.password);
    const row = await this.#db.selectFrom('users').select('password_hash').where('username', '=', user.username).executeTakeFirst();
    if (row && (await verifyPassword(user.password, row.password_hash))) return { user, verifiedHash: row.password_hash };
    return { user, newHash: await hashPassword(user.password) };
  }

  async #syncUser(trx: Trx, touch: Touch, now: string, { user: u, verifiedHash, newHash }: PreparedUser): Promise<Outcome> {
    const existing = await trx.selectFrom('users').selectAll().where('username', '=', u.username).executeTakeFirst();
    const applicationId = u.application ?? null;
    // Rare: the row changed between preparing and now; hash here rather than fail the sync.
    const fresh = async (): Promise<string> => newHash ?? (await hashPassword(u.password));
    if (!existing) {
      await this.#insertUser(trx, touch, now, { username: u.username, applicationId, passwordHash: await fresh() }, 'config');
      return 'created';
    }
    const samePassword = verifiedHash !== undefined && existing.password_hash === verifiedHash;
    if (samePassword && existing.application_id === applicationId) return 'unchanged';
    if (applicationId !== null) {
      const app = await trx.selectFrom('applications').select('id').where('id', '=', applicationId).executeTakeFirst();
      if (!app) throw new StoreError('INVALID', `application '${applicationId}' does not exist.`);
    }
    const password_hash = samePassword ? existing.password_hash : await fresh();
    await trx.updateTable('users').set({ password_hash, application_id: applicationId, updated_at: now }).where('id', '=', existing.id).execute();
    touch('user', existing.id);
    return 'updated';
  }

  async close(): Promise<void> {
    await this.#db.destroy();
    await this.#onClose?.();
  }
}
