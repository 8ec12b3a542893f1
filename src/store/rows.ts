/** Row → entity mapping: the one place that knows how each portable column type is encoded. */
import type { Selectable } from 'kysely';
import type {
  ApplicationsTable,
  CredentialsTable,
  MappingRulesTable,
  OAuthTokensTable,
  MetricsTable,
  PlansTable,
  ServicesTable,
  UsageTable,
  UsersTable,
} from './schema.js';
import { defaultGrants } from './types.js';
import type {
  Application,
  ApplicationState,
  Credential,
  CredentialKind,
  MappingRule,
  Metric,
  OAuth2ClientType,
  OAuth2Grant,
  OAuthToken,
  Origin,
  Period,
  Plan,
  Service,
  UsageRow,
  User,
} from './types.js';

/** pg returns bigint as a string (it may exceed 2^53); our counters stay well below that. */
export function num(value: number | string | bigint): number {
  return typeof value === 'number' ? value : Number(value);
}

export function iso(date: Date): string {
  const t = date.getTime();
  if (Number.isNaN(t)) throw new RangeError('invalid date');
  return date.toISOString();
}

const date = (value: string): Date => new Date(value);
const dateOrNull = (value: string | null): Date | null => (value === null ? null : new Date(value));

export function toService(r: Selectable<ServicesTable>): Service {
  return {
    id: r.id,
    name: r.name,
    hasToken: r.token_hash !== null,
    origin: r.origin as Origin,
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function toMetric(r: Selectable<MetricsTable>): Metric {
  return { serviceId: r.service_id, name: r.name, description: r.description };
}

export function toMappingRule(r: Selectable<MappingRulesTable>): MappingRule {
  return {
    id: r.id,
    serviceId: r.service_id,
    method: r.method,
    pattern: r.pattern,
    metric: r.metric,
    delta: r.delta,
    position: r.position,
    last: r.last !== 0,
  };
}

export function toPlan(r: Selectable<PlansTable>): Plan {
  return {
    id: r.id,
    name: r.name,
    serviceId: r.service_id,
    limits: JSON.parse(r.limits) as Plan['limits'],
    throttles: JSON.parse(r.throttles) as Plan['throttles'],
    origin: r.origin as Origin,
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function toApplication(r: Selectable<ApplicationsTable>): Application {
  return {
    id: r.id,
    name: r.name,
    planId: r.plan_id,
    serviceId: r.service_id,
    state: r.state as ApplicationState,
    description: r.description,
    origin: r.origin as Origin,
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function toCredential(r: Selectable<CredentialsTable>): Credential {
  return {
    id: r.id,
    applicationId: r.application_id,
    kind: r.kind as CredentialKind,
    clientId: r.client_id,
    clientType: r.client_type as OAuth2ClientType | null,
    redirectUris: JSON.parse(r.redirect_uris) as string[],
    grants: r.grants === null ? (r.client_type ? defaultGrants(r.client_type as OAuth2ClientType) : []) : (JSON.parse(r.grants) as OAuth2Grant[]),
    scopes: r.scopes === null ? [] : (JSON.parse(r.scopes) as string[]),
    hint: r.hint,
    label: r.label,
    origin: r.origin as Origin,
    createdAt: date(r.created_at),
    expiresAt: dateOrNull(r.expires_at),
    revokedAt: dateOrNull(r.revoked_at),
  };
}

export function toUser(r: Omit<Selectable<UsersTable>, 'password_hash'>): User {
  return {
    id: r.id,
    username: r.username,
    applicationId: r.application_id,
    origin: r.origin as Origin,
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function toUsageRow(r: Selectable<UsageTable>): UsageRow {
  return {
    appId: r.application_id,
    metric: r.metric,
    period: r.period as Period,
    periodStart: date(r.period_start),
    value: num(r.value),
  };
}

export function toOAuthToken(r: Selectable<OAuthTokensTable>): OAuthToken {
  return {
    id: r.id,
    credentialId: r.credential_id,
    clientId: r.client_id,
    applicationId: r.application_id,
    userId: r.user_id,
    scopes: r.scopes ? r.scopes.split(' ') : [],
    accessExpiresAt: date(r.access_expires_at),
    refreshExpiresAt: dateOrNull(r.refresh_expires_at),
    hasRefreshToken: r.refresh_hash !== null,
    createdAt: date(r.created_at),
    revokedAt: dateOrNull(r.revoked_at),
  };
}
