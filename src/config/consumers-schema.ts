/**
 * The consumers part of the config: services, plans, applications and users declared in the file. They are
 * synced into the store at every start and reload, once the config compiled, and by `tollgate sync` (the store
 * keeps what the CLI added; see Store.syncDeclared).
 */
import { z } from 'zod';
import { OAUTH2_GRANTS, PERIODS } from '../store/types.js';
import { duration } from '../lib/units.js';

const id = (what: string) => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, `expected a ${what} id: letters, digits, '_', '.', ':' or '-'`);
/**
 * Keys from env that are unset (`${DEMO_API_KEY:-}`) are kept as '' here, not rejected, so examples run without
 * them; the sync skips them with a warning and then revokes none of that application's config keys.
 */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'expected a scope: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)');
/** A declared key: the value alone (unscoped: all scopes), or with the scopes `auth.scopes` checks. */
const declaredKey = z.union([
  z.string(),
  z.strictObject({
    key: z.string().describe('The key, from the environment ("${NAME}").'),
    scopes: z.array(scopeToken).min(1, 'expected at least one scope (leave `scopes` out for a key with every scope)').optional().describe('Its scopes (e.g. [read, write]). Default: every scope.'),
  }),
]);
const secretList = (what: string) =>
  z
    .array(declaredKey)
    .default([])
    .describe(
      `${what} Take them from the environment ("\${NAME}"); \`{ key: "\${NAME}", scopes: [read] }\` limits a key to those scopes (see the auth policy's \`scopes\`), a plain value has every scope. An empty value (its variable unset) is skipped with a warning, and then none of the application's config keys is revoked. Only their SHA-256 is stored.`,
    );

export const serviceSchema = z
  .strictObject({
    name: z.string().optional().describe('Display name. Default: the id.'),
    token: z.string().optional().describe("Service token (3scale's service_token), from the environment; only its hash is stored."),
    providerKey: z.string().optional().describe("Provider key (3scale's provider_key) the Service Management API accepts for this service, from the environment. Kept in config only. Empty or unset: none."),
    metrics: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), z.string()).default({}).describe('Custom metrics: name -> description (`hits` always exists).'),
    mappingRules: z
      .array(
        z.strictObject({
          method: z.string().default('*').describe('HTTP method, or * for any.'),
          pattern: z.string().startsWith('/').describe('Path pattern: /books/{id} matches one segment per {name}; a trailing $ anchors the end; otherwise a prefix.'),
          metric: z.string().default('hits').describe('Metric incremented.'),
          delta: z.number().int().min(1).default(1).describe('Increment.'),
          last: z.boolean().default(false).describe('Stop at this rule when it matches.'),
        }),
      )
      .optional()
      .describe('Mapping rules, in order (they replace the stored ones). A request counts hits + 1 unless a rule counts hits itself.'),
  })
  .describe("A service: a group of routes with its metrics and mapping rules (3scale's service).");

export const planSchema = z
  .strictObject({
    name: z.string().optional().describe('Display name. Default: the id.'),
    service: z.string().optional().describe('Service the plan belongs to.'),
    limits: z
      .record(z.string(), z.array(z.strictObject({ per: z.enum(PERIODS).describe('Calendar period (UTC).'), max: z.number().int().min(0).describe('Most units per period.') })))
      .default({})
      .describe('Limits per metric: `hits: [{ per: minute, max: 5 }, { per: day, max: 1000 }]`. Periods are calendar-aligned like 3scale.'),
    throttles: z
      .array(
        z.strictObject({
          metric: z.string().default('hits').describe('Metric throttled.'),
          per: z.enum(['second', 'minute']).describe('Window.'),
          max: z.number().int().min(1).describe('Most units per window.'),
          algorithm: z.enum(['sliding-window', 'token-bucket']).default('sliding-window').describe('Smoothing; both are enforced as a sliding-window estimate today.'),
        }),
      )
      .default([])
      .describe('Short-window throttles on top of the calendar limits.'),
  })
  .describe('A plan: what an application may use.');

const oauth2ClientSchema = z
  .strictObject({
    id: id('OAuth2 client').describe('client_id, e.g. "${OAUTH_CLIENT_ID}".'),
    type: z.enum(['confidential', 'public']).default('confidential').describe('confidential: authenticates with its secret (RFC 6749 §2.1); public: cannot keep a secret, password grant only.'),
    secret: z.string().optional().describe('client_secret of a confidential client, from the environment; only its SHA-256 is stored.'),
    grants: z
      .array(z.enum(OAUTH2_GRANTS))
      .optional()
      .describe('Grants it may use. Default: password, refresh_token and client_credentials (confidential), password (public).'),
    scopes: z.array(scopeToken).default([]).describe('Its scopes: a token request without `scope` gets all of them, and it may ask for no others. Empty: tokens carry no scope.'),
    redirectUris: z.array(z.url()).default([]).describe('Registered redirect URIs (kept for the authorization-code flow; unused by the grants served today).'),
  })
  .superRefine((c, ctx) => {
    if (c.type === 'confidential' && !c.secret) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a confidential client needs a secret (from the environment)' });
    if (c.type === 'public' && c.secret) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a public client has no secret (RFC 6749 §2.1)' });
    if (c.type === 'public' && c.grants?.some((g) => g !== 'password')) ctx.addIssue({ code: 'custom', path: ['grants'], message: 'a public client may only use the password grant' });
  })
  .describe("An OAuth2 client of the gateway's token endpoint; its tokens count against the application it belongs to.");

export const applicationSchema = z
  .strictObject({
    id: id('application').describe('Application id (also its app_id).'),
    name: z.string().optional().describe('Display name. Default: the id.'),
    plan: z.string().describe('Plan id (under `plans:` or created with `tollgate plans create`).'),
    service: z.string().optional().describe('Service the application is bound to (403 on routes of other services).'),
    state: z.enum(['active', 'suspended']).optional().describe('Declared state. Default: whatever the store has (a CLI suspension is kept).'),
    description: z.string().optional().describe('Free text.'),
    keys: secretList('API keys (header or query, per the route\u2019s auth policy).'),
    userKeys: secretList('user_keys.'),
    appKeys: secretList('app_keys (presented with the app_id).'),
    oauth2Clients: z.array(oauth2ClientSchema).default([]).describe('OAuth2 clients of this application (see `oauth2`); the tokens they get count against this application.'),
  })
  .describe('An application (a consumer) and its credentials.');

export const userSchema = z
  .strictObject({
    username: z.string().min(1).describe('User name (Basic auth).'),
    password: z.string().min(1).describe('Password, from the environment; stored as an scrypt hash.'),
    application: z.string().optional().describe('Application the user acts for (its plan applies).'),
  })
  .describe('A user (HTTP Basic, and the OAuth2 password grant).');

export const oauth2Schema = z
  .strictObject({
    tokenPath: z.string().startsWith('/').default('/oauth2/token/').describe('Token endpoint (RFC 6749 §3.2): POST, form or JSON body.'),
    revokePath: z.string().startsWith('/').default('/oauth2/revoke/').describe('Revocation endpoint (RFC 7009).'),
    introspectPath: z.string().startsWith('/').default('/oauth2/introspect/').describe('Introspection endpoint (RFC 7662), for resource servers authenticating as confidential clients.'),
    accessTokenLifetime: duration('How long an access token is valid.').prefault('1h'),
    refreshTokenLifetime: duration('How long a refresh token is valid (it rotates at every use).').prefault('14d'),
    requireHttps: z
      .boolean()
      .default(true)
      .describe('Refuse token requests and bearer calls that arrive over plain HTTP from clients that are not on loopback (judged after trusted proxies), unless a trusted proxy says X-Forwarded-Proto: https.'),
    failedAttempts: z
      .strictObject({
        max: z.number().int().min(1).default(20).describe('Failed client authentications and wrong passwords allowed per client IP per window; beyond it that IP gets 429 until the window ends.'),
        per: z.enum(['second', 'minute', 'hour']).default('minute').describe('Window (clock-aligned).'),
      })
      .prefault({})
      .describe('Brute-force guard of the token, revocation and introspection endpoints (shared across instances with Redis).'),
  })
  .describe('The OAuth2 authorization server: token, revocation and introspection endpoints served on the proxy listener ahead of the routes; `auth: { oauth2: {} }` accepts its tokens.');

export const limitsSettingsSchema = z
  .strictObject({
    namespace: z.string().default('tollgate:rl:').describe('Redis key prefix of limit counters (instances sharing limits must use the same one).'),
    refresh: duration('How often each instance polls the store for revoked keys, suspensions and plan changes.').prefault('250ms'),
    storeTimeout: duration(
      'How long a request waits for the store (a key not yet in memory, a plan) before it gets 503 TG_STORE_UNAVAILABLE; also the Postgres connect timeout. Background queries (usage flush, change polls) get 10 times as long before their connection is dropped.',
    ).prefault('500ms'),
    usageFlush: duration('How often usage counters (and, with the in-process limiter, limit counters) are written to the store, and at shutdown. A crash loses at most this much.').prefault('1s'),
  })
  .describe('Consumer settings: limiter namespace, cache refresh and usage flush.');
