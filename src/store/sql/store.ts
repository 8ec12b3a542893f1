/**
 * The Store on SQL through kysely; the same code runs on SQLite and PostgreSQL (see ../schema.ts for the
 * portable column encodings). A facade over one repository per entity (services, plans, applications,
 * credentials, users, OAuth2 tokens, usage, limit counters), the change log and the config sync, which
 * share one connection and the versioned write of context.ts. Each method delegates to its repository.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type {
  Application,
  ApplicationState,
  ChangeSet,
  CreateApplicationInput,
  CreateCredentialInput,
  CreatedCredential,
  CreateServiceInput,
  CreateUserInput,
  Credential,
  CredentialMatch,
  Declared,
  LimitCounter,
  LimitCounterDelta,
  MappingRule,
  Metric,
  OAuthToken,
  OAuthTokenMatch,
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
} from '../types.js';
import { ApplicationRepository } from './applications.js';
import { ChangeLog } from './changes.js';
import { SqlContext } from './context.js';
import { CredentialRepository } from './credentials.js';
import { LimitCounterRepository } from './limit-counters.js';
import { OAuthTokenRepository } from './oauth-tokens.js';
import { PlanRepository } from './plans.js';
import { ServiceRepository } from './services.js';
import type { MappingRuleInput } from './services.js';
import { ConfigSync } from './sync.js';
import { UsageRepository } from './usage.js';
import { UserRepository } from './users.js';

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
  readonly #onClose: (() => Promise<void> | void) | undefined;
  readonly #services: ServiceRepository;
  readonly #plans: PlanRepository;
  readonly #applications: ApplicationRepository;
  readonly #credentials: CredentialRepository;
  readonly #users: UserRepository;
  readonly #tokens: OAuthTokenRepository;
  readonly #changes: ChangeLog;
  readonly #usage: UsageRepository;
  readonly #limitCounters: LimitCounterRepository;
  readonly #sync: ConfigSync;

  constructor(db: Kysely<Database>, options: SqlStoreOptions) {
    this.#db = db;
    this.dialect = options.dialect;
    this.#onClose = options.onClose;
    const ctx = new SqlContext(db, options.now ?? (() => new Date()));
    this.#services = new ServiceRepository(ctx);
    this.#plans = new PlanRepository(ctx);
    this.#applications = new ApplicationRepository(ctx);
    this.#credentials = new CredentialRepository(ctx);
    this.#users = new UserRepository(ctx);
    this.#tokens = new OAuthTokenRepository(ctx);
    this.#changes = new ChangeLog(ctx);
    this.#usage = new UsageRepository(ctx);
    this.#limitCounters = new LimitCounterRepository(ctx);
    this.#sync = new ConfigSync(ctx, { services: this.#services, plans: this.#plans, applications: this.#applications, credentials: this.#credentials, users: this.#users });
  }

  // ---- services, metrics, mapping rules
  createService(input: CreateServiceInput): Promise<{ service: Service; token?: string }> {
    return this.#services.create(input);
  }
  getService(id: string): Promise<Service | undefined> {
    return this.#services.get(id);
  }
  listServices(): Promise<Service[]> {
    return this.#services.list();
  }
  verifyServiceToken(serviceId: string, token: string): Promise<boolean> {
    return this.#services.verifyToken(serviceId, token);
  }
  upsertMetric(serviceId: string, metric: { name: string; description?: string | null }): Promise<Metric> {
    return this.#services.upsertMetric(serviceId, metric);
  }
  listMetrics(serviceId: string): Promise<Metric[]> {
    return this.#services.listMetrics(serviceId);
  }
  createMappingRule(serviceId: string, rule: MappingRuleInput): Promise<MappingRule> {
    return this.#services.createMappingRule(serviceId, rule);
  }
  listMappingRules(serviceId: string): Promise<MappingRule[]> {
    return this.#services.listMappingRules(serviceId);
  }
  deleteMappingRule(id: string): Promise<boolean> {
    return this.#services.deleteMappingRule(id);
  }

  // ---- plans
  upsertPlan(input: PlanInput): Promise<Plan> {
    return this.#plans.upsert(input);
  }
  getPlan(id: string): Promise<Plan | undefined> {
    return this.#plans.get(id);
  }
  listPlans(filter?: { serviceId?: string }): Promise<Plan[]> {
    return this.#plans.list(filter);
  }

  // ---- applications
  createApplication(input: CreateApplicationInput): Promise<Application> {
    return this.#applications.create(input);
  }
  getApplication(id: string): Promise<Application | undefined> {
    return this.#applications.get(id);
  }
  listApplications(filter?: { serviceId?: string; planId?: string; state?: ApplicationState }): Promise<Application[]> {
    return this.#applications.list(filter);
  }
  updateApplication(id: string, patch: UpdateApplicationInput): Promise<Application> {
    return this.#applications.update(id, patch);
  }
  deleteApplication(id: string): Promise<boolean> {
    return this.#applications.delete(id);
  }

  // ---- credentials
  createCredential(applicationId: string, input: CreateCredentialInput): Promise<CreatedCredential> {
    return this.#credentials.create(applicationId, input);
  }
  getCredential(id: string): Promise<Credential | undefined> {
    return this.#credentials.get(id);
  }
  listCredentials(applicationId: string): Promise<Credential[]> {
    return this.#credentials.list(applicationId);
  }
  revokeCredential(id: string): Promise<boolean> {
    return this.#credentials.revoke(id);
  }
  findCredential(presented: PresentedCredential): Promise<CredentialMatch | undefined> {
    return this.#credentials.find(presented);
  }

  // ---- users
  createUser(input: CreateUserInput): Promise<User> {
    return this.#users.create(input);
  }
  getUser(idOrUsername: string): Promise<User | undefined> {
    return this.#users.get(idOrUsername);
  }
  listUsers(): Promise<User[]> {
    return this.#users.list();
  }
  setUserPassword(idOrUsername: string, password: string): Promise<void> {
    return this.#users.setPassword(idOrUsername, password);
  }
  verifyUser(username: string, password: string): Promise<User | undefined> {
    return this.#users.verify(username, password);
  }

  // ---- OAuth2 tokens
  saveOAuthToken(input: SaveOAuthTokenInput): Promise<{ token: OAuthToken; replaced: number }> {
    return this.#tokens.save(input);
  }
  findOAuthToken(value: string, kind: 'access' | 'refresh'): Promise<OAuthTokenMatch | undefined> {
    return this.#tokens.find(value, kind);
  }
  revokeOAuthToken(value: string, credentialId: string): Promise<RevokeOAuthTokenResult> {
    return this.#tokens.revoke(value, credentialId);
  }
  revokeOAuthTokensOf(credentialId: string): Promise<number> {
    return this.#tokens.revokeAllOf(credentialId);
  }
  pruneOAuthTokens(now: Date): Promise<number> {
    return this.#tokens.prune(now);
  }

  // ---- change log
  version(): Promise<number> {
    return this.#changes.version();
  }
  changesSince(cursor: number): Promise<ChangeSet> {
    return this.#changes.since(cursor);
  }

  // ---- usage and limit counters (not versioned)
  recordUsage(batch: readonly UsageIncrement[]): Promise<void> {
    return this.#usage.record(batch);
  }
  getUsage(appId: string, query?: UsageQuery): Promise<UsageRow[]> {
    return this.#usage.get(appId, query);
  }
  addLimitCounters(batch: readonly LimitCounterDelta[]): Promise<void> {
    return this.#limitCounters.add(batch);
  }
  loadLimitCounters(now: Date): Promise<LimitCounter[]> {
    return this.#limitCounters.load(now);
  }
  pruneLimitCounters(now: Date): Promise<number> {
    return this.#limitCounters.prune(now);
  }

  // ---- config sync
  syncDeclared(declared: Declared): Promise<SyncReport> {
    return this.#sync.run(declared);
  }

  async close(): Promise<void> {
    await this.#db.destroy();
    await this.#onClose?.();
  }
}
