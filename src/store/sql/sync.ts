/**
 * The config sync: upserts what the config file declares in one versioned write (all or nothing), through
 * the repositories' in-transaction operations. See StoreAdmin.syncDeclared for the rules it keeps.
 */
import { hashPassword, secretHint, sha256Hex } from '../secrets.js';
import { checkGrants, checkId, checkMethod, checkName, checkPattern, checkRedirectUris, checkScopes, checkSecret } from '../validate.js';
import { StoreError } from '../types.js';
import type { CreateCredentialInput, Declared, DeclaredApplication, DeclaredCredential, DeclaredService, DeclaredUser, SyncReport, UpdateApplicationInput } from '../types.js';
import type { ApplicationRepository } from './applications.js';
import { HITS, requireApplication } from './context.js';
import type { Outcome, SqlContext, WriteScope } from './context.js';
import { keyScopes } from './credentials.js';
import type { CredentialRepository } from './credentials.js';
import type { PlanRepository } from './plans.js';
import type { ServiceRepository } from './services.js';
import type { UserRepository } from './users.js';

/** A declared user with the scrypt work done: either the stored hash it matched, or a fresh hash. */
type PreparedUser = { user: DeclaredUser; verifiedHash?: string; newHash?: string };
type Count = (o: Outcome) => void;

export interface Repositories {
  services: ServiceRepository;
  plans: PlanRepository;
  applications: ApplicationRepository;
  credentials: CredentialRepository;
  users: UserRepository;
}

export class ConfigSync {
  constructor(
    private readonly ctx: SqlContext,
    private readonly repos: Repositories,
  ) {}

  async run(declared: Declared): Promise<SyncReport> {
    // scrypt runs before the transaction (it is slow on purpose and must not hold the write lock).
    const users = await Promise.all((declared.users ?? []).map((u) => this.#prepareUser(u)));
    return this.ctx.write(async (w) => {
      const report: SyncReport = { created: 0, updated: 0, unchanged: 0, revoked: 0 };
      const count: Count = (o) => void report[o]++;
      for (const s of declared.services ?? []) await this.#syncService(w, s, count);
      for (const p of declared.plans ?? []) count((await this.repos.plans.upsertIn(w, p, 'config')).outcome);
      for (const a of declared.applications ?? []) await this.#syncApplication(w, a, count, report);
      for (const u of users) count(await this.#syncUser(w, u));
      return report;
    });
  }

  async #syncService(w: WriteScope, s: DeclaredService, count: Count): Promise<void> {
    const { trx, touch, now } = w;
    const services = this.repos.services;
    const id = checkId('service', s.id);
    const tokenHash = s.token === undefined ? undefined : sha256Hex(checkSecret(`token of service '${id}'`, s.token));
    const existing = await trx.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirst();
    if (!existing) {
      await services.insert(w, { id, name: s.name, tokenHash }, 'config');
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
    for (const m of s.metrics ?? []) count((await services.upsertMetricIn(w, id, m)).outcome);
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
        for (const r of want) await services.insertMappingRule(w, id, { ...r, last: r.last === 1 });
        count('updated');
      }
    }
  }

  async #syncApplication(w: WriteScope, a: DeclaredApplication, count: Count, report: SyncReport): Promise<void> {
    const { trx, touch, now } = w;
    const id = checkId('application', a.id);
    const existing = await trx.selectFrom('applications').select('id').where('id', '=', id).executeTakeFirst();
    if (!existing) {
      await this.repos.applications.insert(w, { id, name: a.name, planId: a.plan, serviceId: a.service, state: a.state, description: a.description }, 'config');
      count('created');
    } else {
      // Only what the config says: a CLI suspension survives a restart unless the config sets `state`.
      const patch: UpdateApplicationInput = { planId: a.plan };
      if (a.name !== undefined) patch.name = a.name;
      if (a.state !== undefined) patch.state = a.state;
      if (a.description !== undefined) patch.description = a.description;
      count((await this.repos.applications.updateIn(w, id, patch)).outcome);
    }
    const keep = new Set<string>();
    for (const c of a.credentials ?? []) {
      const { credentialId, outcome } = await this.#syncCredential(w, id, c);
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

  async #syncCredential(w: WriteScope, appId: string, c: DeclaredCredential): Promise<{ credentialId: string; outcome: Outcome }> {
    const { trx, touch } = w;
    const existing =
      c.kind === 'oauth2_client'
        ? await trx.selectFrom('credentials').selectAll().where('client_id', '=', c.clientId).executeTakeFirst()
        : await trx.selectFrom('credentials').selectAll().where('kind', '=', c.kind).where('secret_hash', '=', sha256Hex(checkSecret('key', c.secret))).executeTakeFirst();
    if (!existing) {
      const input: CreateCredentialInput =
        c.kind === 'oauth2_client'
          ? { kind: c.kind, clientId: c.clientId, clientType: c.clientType, secret: c.secret, redirectUris: c.redirectUris, grants: c.grants, scopes: c.scopes, label: c.label }
          : { kind: c.kind, secret: c.secret, label: c.label, scopes: c.scopes };
      const created = await this.repos.credentials.insert(w, appId, input, 'config');
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
    const verifiedHash = await this.repos.users.matchingHash(user.username, user.password);
    return verifiedHash !== undefined ? { user, verifiedHash } : { user, newHash: await hashPassword(user.password) };
  }

  async #syncUser(w: WriteScope, { user: u, verifiedHash, newHash }: PreparedUser): Promise<Outcome> {
    const { trx, touch, now } = w;
    const existing = await trx.selectFrom('users').selectAll().where('username', '=', u.username).executeTakeFirst();
    const applicationId = u.application ?? null;
    // Rare: the row changed between preparing and now; hash here rather than fail the sync.
    const fresh = async (): Promise<string> => newHash ?? (await hashPassword(u.password));
    if (!existing) {
      await this.repos.users.insert(w, { username: u.username, applicationId, passwordHash: await fresh() }, 'config');
      return 'created';
    }
    const samePassword = verifiedHash !== undefined && existing.password_hash === verifiedHash;
    if (samePassword && existing.application_id === applicationId) return 'unchanged';
    if (applicationId !== null) await requireApplication(trx, applicationId, 'INVALID');
    const password_hash = samePassword ? existing.password_hash : await fresh();
    await trx.updateTable('users').set({ password_hash, application_id: applicationId, updated_at: now }).where('id', '=', existing.id).execute();
    touch('user', existing.id);
    return 'updated';
  }
}
