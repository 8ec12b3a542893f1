/** Input checks shared by the CLI, the admin API and config sync (they all go through the store). */
import { OAUTH2_GRANTS, PERIODS, StoreError } from './types.js';
import type { OAuth2ClientType, OAuth2Grant, Period, Throttle, UsageLimit } from './types.js';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const METRIC_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const METHOD_RE = /^(?:\*|[A-Z]{1,16})$/;
const MIN_SECRET_LENGTH = 8;
const MAX_SECRET_LENGTH = 512;

export function checkId(what: string, id: string): string {
  if (!ID_RE.test(id)) {
    throw new StoreError('INVALID', `${what} id must be 1-128 characters of letters, digits, '_', '.', ':' or '-', starting with a letter or digit.`);
  }
  return id;
}

export function checkMetricName(name: string): string {
  if (!METRIC_RE.test(name)) {
    throw new StoreError('INVALID', `metric name '${name.slice(0, 64)}' must be 1-64 characters of letters, digits, '_', '.' or '-'.`);
  }
  return name;
}

export function checkName(what: string, name: string): string {
  if (name.length === 0 || name.length > 200 || /[\u0000-\u001f]/.test(name)) {
    throw new StoreError('INVALID', `${what} must be 1-200 characters without control characters.`);
  }
  return name;
}

/** Messages never echo the value: it is a secret. */
export function checkSecret(what: string, secret: string): string {
  if (secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH) {
    throw new StoreError('INVALID', `${what} must be ${MIN_SECRET_LENGTH}-${MAX_SECRET_LENGTH} characters long.`);
  }
  return secret;
}

/** Whether a presented secret is worth hashing at all (bounds the work an anonymous caller can cause). */
export function plausibleSecret(secret: string | undefined): secret is string {
  return typeof secret === 'string' && secret.length > 0 && secret.length <= MAX_SECRET_LENGTH;
}

export function checkPeriod(period: string): Period {
  if (!(PERIODS as readonly string[]).includes(period)) {
    throw new StoreError('INVALID', `period must be one of ${PERIODS.join(', ')}.`);
  }
  return period as Period;
}

export function checkMethod(method: string): string {
  const m = method.toUpperCase();
  if (!METHOD_RE.test(m)) throw new StoreError('INVALID', `method must be an HTTP method or '*'.`);
  return m;
}

export function checkPattern(pattern: string): string {
  if (!pattern.startsWith('/') || pattern.length > 1024 || /\s/.test(pattern)) {
    throw new StoreError('INVALID', 'mapping rule pattern must start with / and contain no whitespace.');
  }
  return pattern;
}

function checkCount(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new StoreError('INVALID', `${what} must be a non-negative integer.`);
  return value;
}

/** Normalises limits: sorted keys, so comparing JSON tells whether a plan changed. */
export function checkLimits(limits: readonly UsageLimit[]): UsageLimit[] {
  return limits.map((l) => ({ metric: checkMetricName(l.metric), period: checkPeriod(l.period), max: checkCount('limit max', l.max) }));
}

export function checkThrottles(throttles: readonly Throttle[]): Throttle[] {
  return throttles.map((t) => {
    if (t.per !== 'second' && t.per !== 'minute') throw new StoreError('INVALID', `throttle per must be 'second' or 'minute'.`);
    if (t.algorithm !== undefined && t.algorithm !== 'sliding-window' && t.algorithm !== 'token-bucket') {
      throw new StoreError('INVALID', `throttle algorithm must be 'sliding-window' or 'token-bucket'.`);
    }
    const out: Throttle = { metric: checkMetricName(t.metric ?? 'hits'), per: t.per, max: checkCount('throttle max', t.max) };
    if (t.algorithm) out.algorithm = t.algorithm;
    return out;
  });
}

export function checkRedirectUris(uris: readonly string[]): string[] {
  for (const u of uris) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new StoreError('INVALID', 'redirect URIs must be absolute URLs.');
    }
    // RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment component.
    if (parsed.hash) throw new StoreError('INVALID', 'redirect URIs must not contain a fragment (RFC 6749 §3.1.2).');
  }
  return [...uris];
}

/** RFC 6749 §3.3: a scope token is printable ASCII without space, `"` or `\\`. */
const SCOPE_RE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

export function checkScopes(scopes: readonly string[]): string[] {
  for (const s of scopes) if (!SCOPE_RE.test(s)) throw new StoreError('INVALID', `scope '${s.slice(0, 64)}' must be printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3).`);
  return [...new Set(scopes)];
}

export function checkGrants(type: OAuth2ClientType, grants: readonly string[]): OAuth2Grant[] {
  for (const g of grants) if (!(OAUTH2_GRANTS as readonly string[]).includes(g)) throw new StoreError('INVALID', `grant must be one of ${OAUTH2_GRANTS.join(', ')}.`);
  // A public client cannot keep a secret, so it cannot authenticate a refresh or a client_credentials grant.
  if (type === 'public' && grants.some((g) => g !== 'password')) throw new StoreError('INVALID', 'a public OAuth2 client may only use the password grant.');
  return [...new Set(grants)] as OAuth2Grant[];
}
