/**
 * The `auth` policy: who is calling. Credentials are read in one pass over places chosen at config time;
 * a presented key is hashed once (SHA-256) and looked up in memory (see src/consumers/directory.ts).
 *
 * Answers: 401 with WWW-Authenticate (RFC 9110 §11.6.1, §15.5.2) when credentials are missing or wrong;
 * 403 when they are valid but not allowed here (suspended application, another service); 429 when a client
 * IP has failed too often. Bearer challenges follow RFC 6750 §3, Basic RFC 7617.
 */
import type { JWTVerifyGetKey } from 'jose';
import type * as Jose from 'jose';
import type { DirectoryApp, LookupResult, MaybePromise, TokenInfo } from '../../consumers/directory.js';
import { GatewayError } from '../../errors.js';
import type { PresentedCredential } from '../../store/types.js';
import { withoutConsumers } from '../consumers.js';
import type { ConsumerServices } from '../../consumers/services.js';
import { ACCESS_TOKEN_PREFIX } from '../oauth2/model.js';
import { insecure } from '../oauth2/policy.js';
import { definePolicy } from '../types.js';
import type { Consumer, CredentialLocations, Exchange, PolicyHooks } from '../types.js';
import { authInfo } from './schema.js';
import type { AuthOptions } from './schema.js';

const WINDOW_MS = { second: 1_000, minute: 60_000, hour: 3_600_000 } as const;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const ANONYMOUS = 'anonymous';
const NONE: readonly string[] = [];

type Found =
  | { kind: 'key'; presented: PresentedCredential }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'jwt'; token: string }
  | { kind: 'oauth2'; token: string };

interface Extracted {
  found: Found | undefined;
  /** Headers and query parameters to remove before forwarding. */
  headers: string[];
  query: Set<string> | undefined;
  /** Whether Authorization carried the credential (for the challenge's error=invalid_token). */
  bearer: boolean;
}

function decodeQueryValue(v: string): string {
  try {
    return decodeURIComponent(v.replace(/\+/g, ' '));
  } catch {
    return v;
  }
}

/**
 * Query parameters by name, only those asked for. A name given twice is ambiguous (which value would a
 * backend, a log reader or the next proxy believe?), so it is refused rather than first-wins.
 */
function readQuery(query: string, names: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (!names.has(name)) continue;
    if (out.has(name)) throw ambiguous(`query parameter ${name}`);
    out.set(name, eq === -1 ? '' : decodeQueryValue(part.slice(eq + 1)));
  }
  return out;
}

/** Never quotes a value: the message must not echo a credential. */
function ambiguous(where: string): GatewayError {
  return new GatewayError('TG_AMBIGUOUS_CREDENTIALS', `More than one credential (${where}); send exactly one.`);
}

/**
 * The one value of a credential header. Repeated lines arrive as an array (readClientHead keeps them apart);
 * a comma means lines an intermediary folded into one (RFC 9110 §5.3): keys, ids and token68 values never
 * contain one.
 */
function single(h: Exchange['headers'], name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v) || v.includes(',')) throw ambiguous(`${name} header`);
  return v || undefined;
}

/** The value the client sent in one or several places; places that disagree are refused. */
function agree(what: string, ...values: Array<string | undefined>): string | undefined {
  let out: string | undefined;
  for (const v of values) {
    if (!v) continue;
    if (out !== undefined && v !== out) throw ambiguous(what);
    out ??= v;
  }
  return out;
}

function dropQuery(query: string, names: ReadonlySet<string>): string {
  return query
    .split('&')
    .filter((part) => {
      const eq = part.indexOf('=');
      return !names.has(eq === -1 ? part : part.slice(0, eq));
    })
    .join('&');
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/** `auth.scopes` as a lookup by the client's method, decided at config time; undefined when the route needs none. */
function scopesByMethod(spec: AuthOptions['scopes']): ((method: string) => readonly string[]) | undefined {
  if (!spec) return undefined;
  if (Array.isArray(spec)) return () => spec;
  const byMethod = new Map<string, readonly string[]>(Object.entries(spec));
  // RFC 9110 §9.3.2: HEAD is GET without the body, so it reads what GET reads.
  const get = byMethod.get('GET');
  if (get && !byMethod.has('HEAD')) byMethod.set('HEAD', get);
  const other = byMethod.get('*') ?? NONE;
  return (method) => byMethod.get(method) ?? other;
}

function missingScope(have: readonly string[], need: readonly string[]): string | undefined {
  for (const s of need) if (!have.includes(s)) return s;
  return undefined;
}

function compileAuth(opts: AuthOptions, svc: ConsumerServices, jose?: typeof Jose): PolicyHooks {
  const { directory, limiter } = svc;
  const apiKey = opts.apiKey && (opts.apiKey.header || opts.apiKey.query ? opts.apiKey : { ...opts.apiKey, header: 'x-api-key' });
  const queryNames = new Set<string>();
  if (apiKey?.query) queryNames.add(apiKey.query);
  if (opts.appId) queryNames.add(opts.appId.idQuery).add(opts.appId.keyQuery);
  if (opts.userKey?.query) queryNames.add(opts.userKey.query);
  if (opts.jwt && !jose) throw new Error('auth: jwt needs jose (compileAuth(opts, svc, await import(\'jose\')))');
  const jwks: JWTVerifyGetKey | undefined = opts.jwt && jose ? jose.createRemoteJWKSet(new URL(opts.jwt.jwksUrl)) : undefined;
  const realm = quote(opts.realm);

  // Challenges, built once. A client with a bad Bearer token also learns error="invalid_token" (RFC 6750 §3.1).
  const challenges: string[] = [];
  if (apiKey || opts.appId || opts.userKey) challenges.push(`ApiKey realm=${realm}`);
  if (opts.jwt || apiKey?.bearer || opts.oauth2) challenges.push(`Bearer realm=${realm}`);
  if (opts.basic) challenges.push(`Basic realm=${realm}, charset="UTF-8"`);
  const challenge = challenges.join(', ');
  const bearerChallenge = challenges.map((c) => (c.startsWith('Bearer') ? `${c}, error="invalid_token"` : c)).join(', ');

  const failWindow = WINDOW_MS[opts.failedAttempts.per];
  const failMax = opts.failedAttempts.max;
  /** IPs over the failed-attempt limit, until their window ends: checked in memory, per request. */
  const blocked = new Map<string, number>();

  const readsAuthorization = Boolean(opts.jwt || apiKey?.bearer || opts.basic || opts.oauth2);
  const requiredScopes = opts.oauth2?.scopes ?? [];
  const methodScopes = scopesByMethod(opts.scopes);
  const needed = (ex: Exchange): readonly string[] => (methodScopes ? methodScopes(ex.client.method) : NONE);

  /** 403 naming the first missing scope (never the credential); Bearer clients also get RFC 6750 §3.1's challenge. */
  function insufficient(what: string, missing: string, need: readonly string[], bearer: boolean): GatewayError {
    const headers = bearer ? { 'www-authenticate': `Bearer realm=${realm}, error="insufficient_scope", scope=${quote(need.join(' '))}` } : undefined;
    return new GatewayError('TG_FORBIDDEN', `${what} lacks the scope ${missing}.`, headers && { headers });
  }

  /** Reads every place this route takes credentials from; ambiguity is refused here, before any lookup. */
  function extract(ex: Exchange): Extracted {
    const h = ex.headers;
    let scheme = '';
    let value = '';
    if (readsAuthorization && h['authorization'] !== undefined) {
      const auth = h['authorization'];
      if (Array.isArray(auth)) throw ambiguous('authorization header');
      const sp = auth.indexOf(' ');
      scheme = (sp === -1 ? auth : auth.slice(0, sp)).toLowerCase();
      value = sp === -1 ? '' : auth.slice(sp + 1).trim();
      // Bearer and Basic carry one token68 (RFC 9110 §11.4): a comma means two credentials folded together.
      if ((scheme === 'bearer' || scheme === 'basic') && value.includes(',')) throw ambiguous('authorization header');
    }
    const q = queryNames.size && ex.query ? readQuery(ex.query, queryNames) : undefined;
    if (scheme === 'bearer' && value && opts.jwt && JWT_SHAPE.test(value)) return { found: { kind: 'jwt', token: value }, headers: ['authorization'], query: undefined, bearer: true };
    // Our own access tokens are recognisable by their prefix; any other Bearer value is one too unless API keys may come as Bearer.
    if (scheme === 'bearer' && value && opts.oauth2 && (value.startsWith(ACCESS_TOKEN_PREFIX) || !apiKey?.bearer)) {
      return { found: { kind: 'oauth2', token: value }, headers: ['authorization'], query: undefined, bearer: true };
    }
    if (scheme === 'basic' && value && opts.basic) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { found: { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }, headers: ['authorization'], query: undefined, bearer: false };
    }
    if (apiKey) {
      const fromBearer = apiKey.bearer && scheme === 'bearer' ? value : undefined;
      const fromHeader = apiKey.header ? single(h, apiKey.header) : undefined;
      const key = agree('API key', fromBearer, fromHeader, apiKey.query ? q?.get(apiKey.query) : undefined);
      if (key) {
        const strip: string[] = [];
        if (fromBearer) strip.push('authorization');
        if (apiKey.header) strip.push(apiKey.header);
        return { found: { kind: 'key', presented: { kind: 'api_key', key } }, headers: strip, query: queryNames, bearer: Boolean(fromBearer) };
      }
    }
    if (opts.appId) {
      const a = opts.appId;
      const appId = agree('app id', single(h, a.idHeader), q?.get(a.idQuery));
      const appKey = agree('app key', single(h, a.keyHeader), q?.get(a.keyQuery));
      if (appId && appKey) return { found: { kind: 'key', presented: { kind: 'app_key', appId, appKey } }, headers: [a.idHeader, a.keyHeader], query: queryNames, bearer: false };
    }
    if (opts.userKey) {
      const u = opts.userKey;
      const key = agree('user key', u.header ? single(h, u.header) : undefined, q?.get(u.query));
      if (key) return { found: { kind: 'key', presented: { kind: 'user_key', key } }, headers: u.header ? [u.header] : [], query: queryNames, bearer: false };
    }
    return { found: undefined, headers: [], query: undefined, bearer: false };
  }

  function unauthorized(ex: Exchange, message: string, bearer: boolean): GatewayError {
    recordFailure(ex.clientIp);
    return new GatewayError('TG_UNAUTHORIZED', message, { headers: { 'www-authenticate': bearer ? bearerChallenge : challenge } });
  }

  function recordFailure(ip: string): void {
    const now = Date.now();
    const start = Math.floor(now / failWindow) * failWindow;
    const over = (r: { count: number }) => {
      if (r.count >= failMax) blocked.set(ip, start + failWindow);
    };
    try {
      const r = limiter.consume(`authfail:${start}:${ip}`, 1, Math.ceil(failWindow / 1000));
      // The limiter store being down must not turn a 401 into a 500.
      if (r instanceof Promise) r.then(over, () => undefined);
      else over(r);
    } catch {
      // idem
    }
  }

  function admit(ex: Exchange, x: Extracted, consumer: Consumer): void {
    ex.consumer = consumer;
    if (!opts.forwardCredentials) {
      for (const name of x.headers) delete ex.headers[name];
      if (x.query && ex.query) ex.query = dropQuery(ex.query, x.query);
    }
    if (opts.consumerHeader) ex.headers[opts.consumerHeader] = consumer.anonymous ? ANONYMOUS : consumer.id;
  }

  function checkApp(ex: Exchange, x: Extracted, app: DirectoryApp, attributes?: Record<string, unknown>): void {
    if (app.state !== 'active') throw new GatewayError('TG_FORBIDDEN', 'This application is suspended.');
    if (opts.service && app.serviceId && app.serviceId !== opts.service) throw new GatewayError('TG_FORBIDDEN', 'This application may not use this service.');
    admit(ex, x, { id: app.id, plan: app.planId, service: app.serviceId ?? opts.service, ...(attributes ? { attributes } : {}) });
  }

  /** RFC 6750 §3.1: an unknown, revoked or expired token is invalid_token (401); too few scopes, insufficient_scope (403). */
  function onToken(ex: Exchange, x: Extracted, t: TokenInfo | undefined): void {
    if (!t) throw unauthorized(ex, 'Invalid, expired or revoked token.', true);
    const forMethod = needed(ex);
    const need = forMethod.length ? [...new Set([...requiredScopes, ...forMethod])] : requiredScopes;
    const missing = missingScope(t.scopes, need);
    if (missing) throw insufficient('The token', missing, need, true);
    checkApp(ex, x, t.app, { oauth2: { clientId: t.clientId, userId: t.userId, scopes: t.scopes } });
  }

  function onKey(ex: Exchange, x: Extracted, r: LookupResult): void {
    if (!r) throw unauthorized(ex, 'Invalid credentials.', x.bearer);
    // A key without scopes has them all: keys made before scopes existed keep working.
    if (methodScopes && r.scopes) {
      const need = needed(ex);
      const missing = missingScope(r.scopes, need);
      if (missing) throw insufficient('This key', missing, need, x.bearer);
    }
    checkApp(ex, x, r.app);
  }

  function then<T>(v: MaybePromise<T>, fn: (t: T) => void): void | Promise<void> {
    return v instanceof Promise ? v.then(fn) : fn(v);
  }

  async function onJwt(ex: Exchange, x: Extracted, token: string): Promise<void> {
    const jwt = opts.jwt!;
    let claim: unknown;
    let scope: unknown;
    try {
      const { payload } = await jose!.jwtVerify(token, jwks!, {
        issuer: jwt.issuer,
        audience: jwt.audience,
        algorithms: jwt.algorithms,
        clockTolerance: jwt.clockTolerance,
      });
      claim = payload[jwt.consumerClaim];
      scope = payload['scope'];
    } catch {
      throw unauthorized(ex, 'Invalid or expired token.', true);
    }
    if (typeof claim !== 'string' || !claim) throw unauthorized(ex, `The token has no ${jwt.consumerClaim} claim.`, true);
    // RFC 9068 §2.2.3: `scope` is a space-separated list; a token without it is unscoped, like a key without scopes.
    if (methodScopes && typeof scope === 'string') {
      const need = needed(ex);
      const missing = missingScope(scope.split(' '), need);
      if (missing) throw insufficient('The token', missing, need, true);
    }
    const app = await directory.application(claim);
    if (app) return checkApp(ex, x, app);
    if (!jwt.plan) throw new GatewayError('TG_FORBIDDEN', 'This token does not belong to a known application.');
    admit(ex, x, { id: claim, plan: jwt.plan, service: opts.service });
  }

  return {
    onRequest(ex) {
      // The upstream must be able to trust this header: never let a client set it.
      if (opts.consumerHeader) delete ex.headers[opts.consumerHeader];
      if (blocked.size) {
        const until = blocked.get(ex.clientIp);
        if (until !== undefined) {
          const left = until - Date.now();
          if (left > 0) {
            throw new GatewayError('TG_RATE_LIMITED', 'Too many failed authentication attempts.', { headers: { 'retry-after': String(Math.ceil(left / 1000)) } });
          }
          blocked.delete(ex.clientIp);
        }
      }
      const x = extract(ex);
      const f = x.found;
      if (!f) {
        // Anonymous callers carry no scope: a method that needs one needs a credential.
        if (opts.anonymous && !needed(ex).length) {
          admit(ex, x, { id: `${ANONYMOUS}:${ex.clientIp}`, plan: opts.anonymous, service: opts.service, anonymous: true });
          return;
        }
        throw new GatewayError('TG_UNAUTHORIZED', 'Missing credentials.', { headers: { 'www-authenticate': challenge } });
      }
      switch (f.kind) {
        case 'key':
          return then(directory.lookup(f.presented), (r) => onKey(ex, x, r));
        case 'jwt':
          return onJwt(ex, x, f.token);
        case 'oauth2':
          // RFC 6750 §5.3: bearer tokens travel over TLS only.
          if (opts.oauth2?.requireHttps && insecure(ex)) throw new GatewayError('TG_FORBIDDEN', 'Bearer tokens are accepted over HTTPS only.');
          return then(directory.lookupToken(f.token), (t) => onToken(ex, x, t));
        case 'basic':
          return then(directory.verifyUser(f.username, f.password), (u) => {
            if (!u) throw unauthorized(ex, 'Invalid credentials.', false);
            if (u.app) return checkApp(ex, x, u.app);
            if (!opts.basic?.plan) throw new GatewayError('TG_FORBIDDEN', 'This user belongs to no application.');
            admit(ex, x, { id: `user:${u.userId}`, plan: opts.basic.plan, service: opts.service });
          });
      }
    },
  };
}

export const authPolicy = definePolicy({
  ...authInfo,
  create(opts, deps) {
    declareLocations(opts, deps.credentialLocations);
    const svc = deps.services.consumers;
    if (!svc) return withoutConsumers('auth');
    // jose loads only for routes that verify JWTs.
    return opts.jwt ? import('jose').then((jose) => compileAuth(opts, svc, jose)) : compileAuth(opts, svc);
  },
});

/** Tells the route where its clients' credentials travel, so cache keys and logs never hold them in clear. */
function declareLocations(opts: AuthOptions, where: CredentialLocations): void {
  const apiKey = opts.apiKey && (opts.apiKey.header || opts.apiKey.query ? opts.apiKey : { ...opts.apiKey, header: 'x-api-key' });
  const headers = [apiKey?.header, opts.appId?.idHeader, opts.appId?.keyHeader, opts.userKey?.header];
  const query = [apiKey?.query, opts.appId?.idQuery, opts.appId?.keyQuery, opts.userKey?.query];
  if (opts.jwt || apiKey?.bearer || opts.basic || opts.oauth2) headers.push('authorization');
  for (const h of headers) if (h) where.headers.add(h);
  for (const q of query) if (q) where.query.add(q);
}
