/**
 * The control-plane store contract: consumers (applications and their credentials), plans, services,
 * metrics, users, usage counters and a change counter, behind narrow interfaces: ConsumerLookup (the data
 * plane's reads), UsageSink, LimitCounterJournal, OAuthTokenStore (the data plane's writes) and StoreAdmin
 * (the control plane's operations); `Store` is all of them. The data plane imports only this file and
 * ./ports.ts, never the SQL implementation (./sql/), so it stays free of kysely and driver imports.
 *
 * Secrets (keys, client secrets, service tokens, passwords) are stored only as hashes and returned once,
 * from the call that created them. Nothing here ever returns a hash.
 */

/** Calendar-aligned usage periods (UTC), as in 3scale. A week starts on Monday. */
export type Period = 'minute' | 'hour' | 'day' | 'week' | 'month' | 'year' | 'eternity';

export const PERIODS: readonly Period[] = ['minute', 'hour', 'day', 'week', 'month', 'year', 'eternity'];

/** Where a row came from: the config file (synced at start) or the CLI / admin API. */
export type Origin = 'config' | 'api';

export type ApplicationState = 'active' | 'suspended';

/** Kinds of stored credentials. `app_key`s are presented together with the application id (3scale's app_id). */
export type CredentialKind = 'api_key' | 'user_key' | 'app_key' | 'oauth2_client';

export const CREDENTIAL_KINDS: readonly CredentialKind[] = ['api_key', 'user_key', 'app_key', 'oauth2_client'];

export type OAuth2ClientType = 'confidential' | 'public';

/** Grants of the token endpoint (RFC 6749 §4.3, §4.4, §6). */
export type OAuth2Grant = 'password' | 'refresh_token' | 'client_credentials';

export const OAUTH2_GRANTS: readonly OAuth2Grant[] = ['password', 'refresh_token', 'client_credentials'];

/**
 * What a client type may use when its grants are not given: a public client cannot authenticate, so it gets
 * neither refresh tokens nor client_credentials (RFC 6749 §2.1, §4.4).
 */
export function defaultGrants(type: OAuth2ClientType): OAuth2Grant[] {
  return type === 'public' ? ['password'] : [...OAUTH2_GRANTS];
}

export interface Service {
  id: string;
  name: string;
  /** Whether a service token is set (the token itself is never returned after creation). */
  hasToken: boolean;
  origin: Origin;
  createdAt: Date;
  updatedAt: Date;
}

export interface Metric {
  serviceId: string;
  /** `hits` exists for every service; others are custom. */
  name: string;
  description: string | null;
}

/** 3scale-style mapping rule: a request matching method + pattern adds `delta` to `metric`. */
export interface MappingRule {
  id: string;
  serviceId: string;
  /** Upper-case HTTP method, or `*` for any. */
  method: string;
  /** Path pattern, 3scale syntax: `/books/{id}` matches a segment; a trailing `$` anchors the end. */
  pattern: string;
  metric: string;
  delta: number;
  /** Evaluation order, lowest first. */
  position: number;
  /** Stop evaluating further rules once this one matched. */
  last: boolean;
}

/** At most `max` units of `metric` per calendar `period`. */
export interface UsageLimit {
  metric: string;
  period: Period;
  max: number;
}

/** Short-window smoothing on top of the calendar limits (requests per second or minute). */
export interface Throttle {
  /** Defaults to `hits`. */
  metric?: string;
  per: 'second' | 'minute';
  max: number;
  algorithm?: 'sliding-window' | 'token-bucket';
}

export interface Plan {
  id: string;
  name: string;
  serviceId: string | null;
  limits: UsageLimit[];
  throttles: Throttle[];
  origin: Origin;
  createdAt: Date;
  updatedAt: Date;
}

export interface Application {
  /** Stable id: used in cache keys, limits, usage, and as 3scale's `app_id` with app keys. */
  id: string;
  name: string;
  planId: string;
  serviceId: string | null;
  state: ApplicationState;
  description: string | null;
  origin: Origin;
  createdAt: Date;
  updatedAt: Date;
}

/** A credential as listed or shown: never the secret, never its hash. */
export interface Credential {
  id: string;
  applicationId: string;
  kind: CredentialKind;
  /** Public OAuth2 client id (oauth2_client only). */
  clientId: string | null;
  clientType: OAuth2ClientType | null;
  redirectUris: string[];
  /** Grants the OAuth2 client may use (empty for other kinds). */
  grants: OAuth2Grant[];
  /**
   * The OAuth2 client's scopes: what a token request without `scope` gets, and all it may ask for (empty: no scopes).
   * A key's scopes (api_key, user_key, app_key): what `auth.scopes` checks; empty: an unscoped key, which has all scopes.
   */
  scopes: string[];
  /** A recognisable hint such as `tgk_…x3Fq`, enough to tell keys apart, useless to an attacker. */
  hint: string | null;
  label: string | null;
  origin: Origin;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export interface User {
  id: string;
  username: string;
  /** The application the user belongs to, if any (e.g. for scoping the OAuth2 password grant). */
  applicationId: string | null;
  origin: Origin;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreateServiceInput {
  /** Generated (`svc_…`) when omitted. */
  id?: string;
  name?: string;
  /** Use this token instead of generating one (e.g. from env). Pass `false` for no token. */
  token?: string | false;
}

export interface PlanInput {
  id: string;
  name?: string;
  serviceId?: string | null;
  limits?: UsageLimit[];
  throttles?: Throttle[];
}

export interface CreateApplicationInput {
  /** Generated (`app_…`) when omitted. */
  id?: string;
  name?: string;
  planId: string;
  serviceId?: string | null;
  state?: ApplicationState;
  description?: string | null;
}

export interface UpdateApplicationInput {
  name?: string;
  planId?: string;
  state?: ApplicationState;
  description?: string | null;
}

interface CredentialInputBase {
  /** Use this secret instead of generating one (config keys from env). Its hash is stored, never the value. */
  secret?: string;
  label?: string | null;
  expiresAt?: Date | null;
}

export type CreateCredentialInput =
  | (CredentialInputBase & {
      kind: 'api_key' | 'user_key' | 'app_key';
      /** The key's scopes; omitted or empty: unscoped (all scopes, as keys had before scopes existed). */
      scopes?: string[];
    })
  | (CredentialInputBase & {
      kind: 'oauth2_client';
      clientType: OAuth2ClientType;
      /** Generated (`tgc_…`) when omitted. */
      clientId?: string;
      redirectUris?: string[];
      /** Default: see defaultGrants(). */
      grants?: OAuth2Grant[];
      scopes?: string[];
    });

/** Returned once by createCredential: `secret` is the only time the raw value is available. */
export interface CreatedCredential {
  credential: Credential;
  /** Absent for public OAuth2 clients, which have no secret. */
  secret?: string;
}

/** What a client presented, as the auth policy extracted it from the request. */
export type PresentedCredential =
  | { kind: 'api_key'; key: string }
  | { kind: 'user_key'; key: string }
  | { kind: 'app_key'; appId: string; appKey: string }
  /** Public clients present no secret; confidential clients must. */
  | { kind: 'oauth2_client'; clientId: string; clientSecret?: string };

/** A credential that is valid right now (not revoked, not expired). The application may still be suspended. */
export interface CredentialMatch {
  credential: Credential;
  application: Application;
  /** undefined only if the plan row vanished (should not happen: plans are not deletable while used). */
  plan: Plan | undefined;
  /** Shortcut for `application.state`: a suspended application's credentials match but must get 403. */
  state: ApplicationState;
}

export interface CreateUserInput {
  id?: string;
  username: string;
  password: string;
  applicationId?: string | null;
}

/** One counter increment. Rows with the same (appId, metric, period, periodStart) add up. */
export interface UsageIncrement {
  appId: string;
  metric: string;
  period: Period;
  /** Any instant in the period: the store aligns it to the period's start (see periodStart()). */
  periodStart: Date;
  delta: number;
}

export interface UsageQuery {
  period?: Period;
  /** Only periods that contain this instant or start after it. */
  since?: Date;
  metric?: string;
}

export interface UsageRow {
  appId: string;
  metric: string;
  period: Period;
  periodStart: Date;
  value: number;
}

/** A change of one in-process limit counter, as the gateway journals them (rows with the same key add up). */
export interface LimitCounterDelta {
  key: string;
  delta: number;
  /** When the counter's window ends; null: never (eternity). */
  expiresAt: Date | null;
}

export interface LimitCounter {
  key: string;
  value: number;
  expiresAt: Date | null;
}

export type ChangeEntity = 'service' | 'metric' | 'mapping_rule' | 'plan' | 'application' | 'credential' | 'user' | 'oauth_token';

/** An OAuth2 grant as stored: never the token values, only their hashes (and those are never returned). */
export interface OAuthToken {
  id: string;
  /** The client's credential row and its public client id. */
  credentialId: string;
  clientId: string;
  /** The OAuth2 client's application: the consumer whose plan, limits and usage the token counts against. */
  applicationId: string;
  /** null for client_credentials. */
  userId: string | null;
  scopes: string[];
  accessExpiresAt: Date;
  refreshExpiresAt: Date | null;
  hasRefreshToken: boolean;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface SaveOAuthTokenInput {
  accessToken: string;
  refreshToken?: string;
  /** The client's credential id. */
  credentialId: string;
  userId: string | null;
  scopes: readonly string[];
  accessExpiresAt: Date;
  refreshExpiresAt?: Date | null;
}

/** An active token (not revoked, not expired, its client not revoked) and whom it belongs to. */
export interface OAuthTokenMatch {
  token: OAuthToken;
  credential: Credential;
  application: Application;
  plan: Plan | undefined;
  /** The user's name (password grant), else null. */
  username: string | null;
}

/** `already_revoked`: it was revoked (or replaced) before this call, e.g. by a concurrent refresh. */
export type RevokeOAuthTokenResult = 'revoked' | 'already_revoked' | 'unknown' | 'other_client';

interface Change {
  version: number;
  entity: ChangeEntity;
  id: string;
}

export interface ChangeSet {
  /** Pass this as the next cursor. */
  version: number;
  /** Oldest first. Several changes may share a version (one write touched several rows). */
  changes: Change[];
  /**
   * True when the cursor is too old (the change log is pruned) or from another store: the list is then
   * empty and the caller must drop everything it cached.
   */
  reset: boolean;
}

/** What the config file declares; synced into the store at every start. */
export interface Declared {
  services?: DeclaredService[];
  plans?: PlanInput[];
  applications?: DeclaredApplication[];
  users?: DeclaredUser[];
}

export interface DeclaredService {
  id: string;
  name?: string;
  /** Service token from env; only its hash is stored. */
  token?: string;
  metrics?: { name: string; description?: string }[];
  /** Replaces the service's mapping rules when given (in this order). */
  mappingRules?: { method: string; pattern: string; metric?: string; delta?: number; last?: boolean }[];
}

export type DeclaredCredential =
  /** `scopes` omitted or empty: an unscoped key (all scopes). */
  | { kind: 'api_key' | 'user_key' | 'app_key'; secret: string; label?: string; scopes?: string[] }
  | {
      kind: 'oauth2_client';
      clientId: string;
      clientType: OAuth2ClientType;
      secret?: string;
      redirectUris?: string[];
      grants?: OAuth2Grant[];
      scopes?: string[];
      label?: string;
    };

export interface DeclaredApplication {
  id: string;
  name?: string;
  plan: string;
  service?: string;
  state?: ApplicationState;
  description?: string;
  credentials?: DeclaredCredential[];
  /**
   * Keep (do not revoke) this application's config credentials that `credentials` no longer lists. Set when
   * the config declared a credential whose value is empty (its variable unset): the store cannot tell which
   * key that entry meant, so a sync must not guess by revoking.
   */
  keepUndeclared?: boolean;
}

export interface DeclaredUser {
  username: string;
  /** From env; only its scrypt hash is stored. */
  password: string;
  application?: string;
}

export interface SyncReport {
  created: number;
  updated: number;
  unchanged: number;
  /** Config-declared credentials of declared applications that are no longer in the config. */
  revoked: number;
}

export type StoreErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'INVALID';

/** A control-plane error with a stable code: the CLI prints it, the admin API maps it to 404/409/400. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/**
 * The read-only lookups the data plane makes (the consumer directory, src/consumers/directory.ts): whose
 * credential or token is this, what does a plan allow, which rules map a request to metrics, and what
 * changed since the last poll. Nothing here writes.
 */
export interface ConsumerLookup {
  /**
   * Finds the application behind a presented credential: hashes the presented secret and compares hashes
   * in constant time. undefined when unknown, revoked or expired (the caller answers 401); a match on a
   * suspended application is returned with `state: 'suspended'` (the caller answers 403).
   */
  findCredential(presented: PresentedCredential): Promise<CredentialMatch | undefined>;
  /** The active token behind a presented access or refresh token value; undefined when unknown, revoked or expired. */
  findOAuthToken(value: string, kind: 'access' | 'refresh'): Promise<OAuthTokenMatch | undefined>;
  /** The user when the password matches, else undefined; takes the same time whether or not the user exists. */
  verifyUser(username: string, password: string): Promise<User | undefined>;
  getApplication(id: string): Promise<Application | undefined>;
  getPlan(id: string): Promise<Plan | undefined>;
  getService(id: string): Promise<Service | undefined>;
  listMetrics(serviceId: string): Promise<Metric[]>;
  /** Rules in evaluation order. */
  listMappingRules(serviceId: string): Promise<MappingRule[]>;
  /** Constant-time check of a presented service token (3scale's service_token). */
  verifyServiceToken(serviceId: string, token: string): Promise<boolean>;

  /**
   * The change counter: bumped by every write except usage. Cheap (one row); gateways poll it to notice
   * revocations, suspensions and plan changes within a second.
   */
  version(): Promise<number>;
  /**
   * What changed after `cursor` (a previous `version`; start from `await version()`), so a cache can evict
   * only what changed. Never misses a change, even with concurrent writers on Postgres.
   */
  changesSince(cursor: number): Promise<ChangeSet>;
}

/** Where the data plane's usage counter flushes (src/consumers/usage.ts). */
export interface UsageSink {
  /**
   * Adds a batch of increments in one transaction (upserts; rows with the same key, in or across batches,
   * add up). Does not bump the version: usage is not something caches depend on.
   */
  recordUsage(batch: readonly UsageIncrement[]): Promise<void>;
}

/** Where the in-process limiter journals its counters, so limits survive a restart without Redis (src/consumers/limit-journal.ts). */
export interface LimitCounterJournal {
  /** Adds a batch of limit counter changes in one transaction. Does not bump the version. */
  addLimitCounters(batch: readonly LimitCounterDelta[]): Promise<void>;
  /** Limit counters whose window has not ended at `now`. */
  loadLimitCounters(now: Date): Promise<LimitCounter[]>;
  /** Deletes limit counters whose window ended before `now`; returns how many. */
  pruneLimitCounters(now: Date): Promise<number>;
}

/** What the OAuth2 token, revocation and introspection endpoints read and write (src/policies/oauth2). */
export interface OAuthTokenStore extends Pick<ConsumerLookup, 'findCredential' | 'verifyUser' | 'findOAuthToken'> {
  /**
   * Stores a new token (hashes only) and revokes, in the same transaction, the active tokens of the same
   * client and user (client_credentials: of the same client without a user): a new token invalidates the
   * previous one. Returns the stored row and how many tokens it replaced.
   */
  saveOAuthToken(input: SaveOAuthTokenInput): Promise<{ token: OAuthToken; replaced: number }>;
  /**
   * Revokes the grant behind an access or refresh token value (both tokens of it), when it was issued to the
   * client with credential `credentialId` (RFC 7009 §2.1). Idempotent.
   */
  revokeOAuthToken(value: string, credentialId: string): Promise<RevokeOAuthTokenResult>;
  /** Deletes tokens that can no longer be used at `now` (revoked, or both tokens expired); returns how many. Does not bump the version. */
  pruneOAuthTokens(now: Date): Promise<number>;
}

/**
 * The control plane's operations (CLI verbs, admin API, config sync); with ConsumerLookup's reads, everything they do.
 * @public one of the store's narrow contracts named above; `Store` extends it, nothing imports it by name yet.
 */
export interface StoreAdmin {
  /** Creates a service. Returns the generated (or given) service token once; only its hash is kept. */
  createService(input: CreateServiceInput): Promise<{ service: Service; token?: string }>;
  listServices(): Promise<Service[]>;

  /** Creates or updates a custom metric of a service (`hits` always exists). */
  upsertMetric(serviceId: string, metric: { name: string; description?: string | null }): Promise<Metric>;

  /** Appends a mapping rule (position defaults to after the last). The metric must exist on the service. */
  createMappingRule(
    serviceId: string,
    rule: { method: string; pattern: string; metric?: string; delta?: number; last?: boolean; position?: number },
  ): Promise<MappingRule>;
  /** Returns false when no such rule existed. */
  deleteMappingRule(id: string): Promise<boolean>;

  /** Creates the plan, or replaces name, service, limits and throttles of an existing one. */
  upsertPlan(input: PlanInput): Promise<Plan>;
  listPlans(filter?: { serviceId?: string }): Promise<Plan[]>;

  /** Throws StoreError INVALID when the plan or service does not exist, CONFLICT when the id is taken. */
  createApplication(input: CreateApplicationInput): Promise<Application>;
  listApplications(filter?: { serviceId?: string; planId?: string; state?: ApplicationState }): Promise<Application[]>;
  /** Changes name, plan, state (suspend/resume) or description. Throws StoreError NOT_FOUND. */
  updateApplication(id: string, patch: UpdateApplicationInput): Promise<Application>;
  /** Deletes an application with its credentials (its users stay, unbound; its usage rows stay). False when unknown. */
  deleteApplication(id: string): Promise<boolean>;

  /**
   * Adds a credential to an application. The secret (generated with crypto.randomBytes unless given) is
   * returned here and never again; the store keeps its SHA-256 hash.
   */
  createCredential(applicationId: string, input: CreateCredentialInput): Promise<CreatedCredential>;
  getCredential(id: string): Promise<Credential | undefined>;
  listCredentials(applicationId: string): Promise<Credential[]>;
  /** Revokes now (idempotent: an earlier revocation time is kept). Returns false when no such credential. */
  revokeCredential(id: string): Promise<boolean>;

  /** Creates a user for the OAuth2 password grant; the password is stored as an scrypt hash. */
  createUser(input: CreateUserInput): Promise<User>;
  getUser(idOrUsername: string): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
  /** Replaces a user's password. Throws StoreError NOT_FOUND. */
  setUserPassword(idOrUsername: string, password: string): Promise<void>;

  /** Revokes every active token of an OAuth2 client (its credential id); returns how many. */
  revokeOAuthTokensOf(credentialId: string): Promise<number>;

  /** Counters of one application, ordered by metric, period and period start. */
  getUsage(appId: string, query?: UsageQuery): Promise<UsageRow[]>;

  /**
   * Upserts what the config file declares, in one transaction (all or nothing). Idempotent: a second run
   * with the same input writes nothing and leaves the version alone. Never deletes. Declared fields win over
   * CLI edits of the same row, undeclared ones (e.g. a CLI suspension when the config sets no `state`) are
   * kept; credentials the CLI added are kept; config-declared credentials of a declared application that the
   * config no longer lists are revoked (a rotated env key stops working); a revoked one is never un-revoked.
   */
  syncDeclared(declared: Declared): Promise<SyncReport>;
}

/**
 * The store: every narrow interface above, on one connection. Reads are safe to call often but are SQL
 * round trips: the data plane caches what it reads and polls {@link ConsumerLookup.version} (or
 * {@link ConsumerLookup.changesSince}) to invalidate. The data plane is handed the narrow interfaces only
 * (see `narrow()` in ./ports.ts); the CLI and the admin API get the whole store.
 */
export interface Store extends ConsumerLookup, UsageSink, LimitCounterJournal, OAuthTokenStore, StoreAdmin {
  readonly dialect: 'sqlite' | 'postgres';
  /** Releases the database connection(s). */
  close(): Promise<void>;
}
