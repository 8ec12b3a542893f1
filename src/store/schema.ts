/**
 * Row types of the SQL tables, for kysely. Portable on purpose (SQLite and PostgreSQL):
 * timestamps are ISO-8601 UTC text (`Date#toISOString()`: fixed width, so text order is time order),
 * booleans are integers 0/1, JSON is text, counters are bigint (which `pg` returns as strings: see `num()`).
 */
import type { ColumnType } from 'kysely';

/** bigint column: read as number (sqlite) or string (pg); updates may be expressions over it. */
type BigIntColumn = ColumnType<number | string, number, number | string>;

interface StoreVersionTable {
  id: number;
  version: BigIntColumn;
}

interface ChangesTable {
  version: BigIntColumn;
  entity: string;
  entity_id: string;
}

export interface ServicesTable {
  id: string;
  name: string;
  token_hash: string | null;
  origin: string;
  created_at: string;
  updated_at: string;
}

export interface MetricsTable {
  service_id: string;
  name: string;
  description: string | null;
}

export interface MappingRulesTable {
  id: string;
  service_id: string;
  method: string;
  pattern: string;
  metric: string;
  delta: number;
  position: number;
  last: number;
}

export interface PlansTable {
  id: string;
  name: string;
  service_id: string | null;
  limits: string;
  throttles: string;
  origin: string;
  created_at: string;
  updated_at: string;
}

export interface ApplicationsTable {
  id: string;
  name: string;
  plan_id: string;
  service_id: string | null;
  state: string;
  description: string | null;
  origin: string;
  created_at: string;
  updated_at: string;
}

export interface CredentialsTable {
  id: string;
  application_id: string;
  kind: string;
  client_id: string | null;
  client_type: string | null;
  redirect_uris: string;
  secret_hash: string | null;
  hint: string | null;
  label: string | null;
  origin: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  /** JSON array of OAuth2 grants (oauth2_client only); NULL: the client type's defaults. */
  grants: string | null;
  /** JSON array of OAuth2 scopes (oauth2_client only); NULL: none. */
  scopes: string | null;
}

export interface OAuthTokensTable {
  id: string;
  access_hash: string;
  refresh_hash: string | null;
  credential_id: string;
  client_id: string;
  application_id: string;
  user_id: string | null;
  /** Space-separated, as on the wire (RFC 6749 §3.3). */
  scopes: string;
  access_expires_at: string;
  refresh_expires_at: string | null;
  created_at: string;
  revoked_at: string | null;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  application_id: string | null;
  origin: string;
  created_at: string;
  updated_at: string;
}

export interface UsageTable {
  application_id: string;
  metric: string;
  period: string;
  period_start: string;
  value: BigIntColumn;
}

interface LimitCountersTable {
  key: string;
  value: BigIntColumn;
  expires_at: string | null;
}

export interface Database {
  store_version: StoreVersionTable;
  changes: ChangesTable;
  services: ServicesTable;
  metrics: MetricsTable;
  mapping_rules: MappingRulesTable;
  plans: PlansTable;
  applications: ApplicationsTable;
  credentials: CredentialsTable;
  users: UsersTable;
  usage: UsageTable;
  limit_counters: LimitCountersTable;
  oauth_tokens: OAuthTokensTable;
}

/** The tables, for tools that dump or scan the whole store (tests, backups). */
export const TABLES: readonly (keyof Database)[] = [
  'store_version',
  'changes',
  'services',
  'metrics',
  'mapping_rules',
  'plans',
  'applications',
  'credentials',
  'users',
  'usage',
  'limit_counters',
  'oauth_tokens',
];
