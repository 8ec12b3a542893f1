import { z } from 'zod';

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name').transform((s) => s.toLowerCase());
const queryName = z.string().min(1);
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'expected a scope: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)');
const scopeList = z.array(scopeToken).min(1, 'expected at least one scope');
const methodName = z.string().regex(/^(?:[A-Z]+|\*)$/, 'expected an HTTP method in capitals (GET, POST, …) or * for the others');

export const authSchema = z
  .strictObject({
    apiKey: z
      .strictObject({
        header: headerName.optional().describe('Header carrying the key (e.g. x-api-key). Default: x-api-key when neither header nor query is set.'),
        query: queryName.optional().describe('Query parameter carrying the key (e.g. api_key).'),
        bearer: z.boolean().default(false).describe('Also accept the key as `Authorization: Bearer <key>` (when it is not a JWT the `jwt` method takes).'),
      })
      .optional()
      .describe('API keys (`tollgate keys create APP`).'),
    appId: z
      .strictObject({
        idHeader: headerName.default('app-id').describe('Header carrying the application id.'),
        keyHeader: headerName.default('app-key').describe('Header carrying one of its app keys.'),
        idQuery: queryName.default('app_id').describe('Query parameter carrying the application id.'),
        keyQuery: queryName.default('app_key').describe('Query parameter carrying one of its app keys.'),
      })
      .optional()
      .describe("3scale's app_id + app_key pair (an application may have several app keys)."),
    userKey: z
      .strictObject({
        header: headerName.optional().describe('Header carrying the user key.'),
        query: queryName.default('user_key').describe('Query parameter carrying the user key.'),
      })
      .optional()
      .describe("3scale's user_key."),
    basic: z
      .strictObject({
        plan: z.string().optional().describe('Plan for users that belong to no application. Default: such users are refused (403).'),
      })
      .optional()
      .describe('HTTP Basic with the store\'s users (RFC 7617); the user\'s application is the consumer. Passwords are checked with scrypt once, then cached by hash.'),
    jwt: z
      .strictObject({
        jwksUrl: z.url().describe('JWKS URL of the identity provider (keys are fetched and cached by jose).'),
        issuer: z.string().optional().describe('Required `iss`.'),
        audience: z.union([z.string(), z.array(z.string())]).optional().describe('Required `aud` (any of).'),
        algorithms: z.array(z.string()).optional().describe('Accepted `alg` values. Default: any asymmetric algorithm the key allows.'),
        consumerClaim: z.string().default('sub').describe('Claim naming the consumer. When an application with that id exists, its plan and state apply.'),
        plan: z.string().optional().describe('Plan for tokens whose consumer is not an application in the store. Default: such tokens are refused (403).'),
        clockTolerance: z.string().default('30s').describe('Allowed clock skew for exp/nbf (jose syntax: "30s", "1m").'),
      })
      .optional()
      .describe('Bearer JWTs (RFC 6750, RFC 7519) verified against a JWKS.'),
    oauth2: z
      .strictObject({
        scopes: z.array(z.string().min(1)).default([]).describe('Scopes the token must carry, all of them (e.g. [read]); otherwise 403 with error="insufficient_scope".'),
        requireHttps: z
          .boolean()
          .default(true)
          .describe('Refuse (403) bearer tokens sent over plain HTTP by clients that are not on loopback, unless a trusted proxy says X-Forwarded-Proto: https.'),
      })
      .optional()
      .describe("Access tokens of the gateway's own OAuth2 server (top-level `oauth2`) as `Authorization: Bearer` (RFC 6750); the consumer is the OAuth2 client's application."),
    scopes: z
      .union([scopeList, z.record(methodName, scopeList)], { error: 'expected scopes for every method ([write]) or per method in capitals ({ GET: [read], "*": [write] }), each a non-empty list of scopes' })
      .optional()
      .describe(
        'Scopes the credential must carry, all of them: a list for every method, or per method (`{ GET: [read], "*": [write] }`; HEAD takes GET\'s unless listed, `*` the methods not listed, a method in neither needs none). Checked for API keys, user keys and app keys with scopes, OAuth2 tokens (on top of `oauth2.scopes`) and JWTs with a `scope` claim; a key without scopes has them all (keys made before scopes keep working), and so do Basic users and JWTs without `scope`. Missing: 403 naming the scope; anonymous requests to a method that needs a scope: 401. Default: none.',
      ),
    anonymous: z.string().optional().describe('Plan id for requests without any credentials: they pass as anonymous consumers keyed by client IP. Default: credentials are required. Wrong credentials still get 401.'),
    service: z.string().optional().describe('Service this route belongs to: applications bound to another service get 403; mapping rules and metrics come from it.'),
    realm: z.string().default('tollgate').describe('Realm in WWW-Authenticate challenges.'),
    consumerHeader: z.union([headerName, z.literal('')]).default('x-consumer-id').describe("Header telling the upstream who is calling (a client's own value is always removed). Empty: none."),
    forwardCredentials: z.boolean().default(false).describe("Forward the consumer's credentials upstream. Default: they are removed."),
    failedAttempts: z
      .strictObject({
        max: z.number().int().min(1).default(20).describe('Failed attempts allowed per client IP per window; beyond it every request from that IP gets 429 until the window ends.'),
        per: z.enum(['second', 'minute', 'hour']).default('minute').describe('Window (clock-aligned).'),
      })
      .prefault({})
      .describe('Brute-force guard: failed authentication attempts are limited per client IP (shared across instances with Redis).'),
  })
  .refine((o) => o.apiKey || o.appId || o.userKey || o.basic || o.jwt || o.oauth2 || o.anonymous, { message: 'expected at least one of apiKey, appId, userKey, basic, jwt, oauth2 or anonymous' })
  .describe('Finds out who is calling: 401 with WWW-Authenticate when credentials are missing or wrong, 403 when known but not allowed.');

export type AuthOptions = z.output<typeof authSchema>;

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const authInfo = {
  name: 'auth',
  description: 'Identifies the consumer (API key, app_id/app_key, user_key, Basic, Bearer JWT, OAuth2 access token or anonymous); 401/403 otherwise.',
  priority: 1000,
  schema: authSchema,
} as const;
