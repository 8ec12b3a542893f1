/**
 * The one config schema. It gives the TypeScript types, the validation used by `tollgate check`, start-up
 * and reload, and docs/config.md (npm run gen; test/config-docs.test.ts fails when the doc drifts).
 * Every field has a description; defaults are the embedded single-machine setup.
 */
import { z } from 'zod';
import { duration, size } from '../lib/units.js';
import { applicationSchema, limitsSettingsSchema, oauth2Schema, planSchema, serviceSchema, userSchema } from './consumers-schema.js';
import { threescaleSchema } from '../policies/threescale/schema.js';
import { IDENTIFIER, replicasSchema, resourceRouteSchema, resourceSchema } from '../resources/schema.js';
import { docsSchema } from '../docs/schema.js';

const hostField = (def: string, what: string) => z.string().min(1).default(def).describe(what);
const portField = (def: number, what: string) => z.number().int().min(0).max(65535).default(def).describe(what);

const listenSchema = z
  .strictObject({
    host: hostField('0.0.0.0', 'Address the proxy listens on.'),
    port: portField(8080, 'Port the proxy listens on; 0 picks a free port.'),
    trustedProxies: z
      .array(z.string())
      .default([])
      .describe('Addresses or CIDR ranges (e.g. 10.0.0.0/8) whose X-Forwarded-For/-Proto/-Host are trusted. Others are replaced.'),
    maxUrlLength: size('Longest request target accepted; longer ones get 414.').prefault('8KiB'),
    maxHeaderSize: size('Largest request head (request line plus headers) accepted; larger ones get 431.').prefault('16KiB'),
    headersTimeout: duration('Time a client has to send its request head (slow-loris guard).').prefault('10s'),
    requestTimeout: duration('Time a client has to send its whole request (head and body).').prefault('5m'),
    bodyIdleTimeout: duration('Longest pause while a client sends a request body (time without a byte while the gateway waits for more); a slower client gets 408 and the connection is closed.').prefault('30s'),
    allowQueryControlChars: z.boolean().default(false).describe('Pass control characters in the query (raw or encoded, %00-%1F and %7F: `?a=%0d%0a`) to the upstream. Default: refused with 400, as in the path.'),
    keepAliveTimeout: duration('How long an idle client connection is kept open.').prefault('5s'),
    workers: z
      .union([z.number().int().min(1).max(256), z.literal('auto')])
      .default(1)
      .describe(
        "Processes serving requests: 1 (default) is this process alone; N or 'auto' (one per CPU core) makes `tollgate start` a primary that forks N workers sharing the listener(s), restarts a worker that dies, and passes SIGTERM and reloads to all of them (`--workers` beats it; read at start, a reload does not change it). Rate limits, usage and revocation hold across the workers; see the README, \"Running on more cores\".",
      ),
    shutdownGrace: duration('On SIGTERM/SIGINT, how long in-flight requests may take to finish before the process exits.').prefault('10s'),
    tls: z
      .strictObject({
        cert: z.string().min(1).describe('PEM certificate chain file (relative to the config file).'),
        key: z.string().min(1).describe('PEM private key file (relative to the config file).'),
      })
      .optional()
      .describe('Terminate TLS on the proxy listener (read at start; a reload does not change it). Default: plain HTTP.'),
  })
  .describe('The proxy listener (data plane).');

const adminSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the admin listener (/healthz, /readyz, and the admin API of later versions).'),
    host: hostField('127.0.0.1', 'Address the admin listener binds to. Keep it on loopback unless a token is set.'),
    port: portField(9080, 'Admin port; 0 picks a free port.'),
    token: z.string().default('').describe('Bearer token required by the admin API under /api/ (not by /healthz, /readyz, /metrics or the pages that ask for it). Empty: env TOLLGATE_ADMIN_TOKEN, else no token, which is refused unless `host` is loopback. Use `${file:…}` or `${VAR}`.'),
  })
  .describe('The admin listener (control plane).');

const metricsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Count requests for /metrics (Prometheus) and the dashboard on the admin listener. Read at start (a reload does not switch it).'),
  })
  .describe('Traffic metrics: plain counters per route, updated once per request.');

const logSchema = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Log level; `--log-level` beats it.'),
    format: z.enum(['auto', 'json', 'pretty']).default('auto').describe('auto: pretty on a terminal, JSON lines otherwise.'),
    accessLog: z.boolean().default(true).describe('Write one access-log line per request.'),
    redactQuery: z
      .array(z.string())
      .default(['api_key', 'apikey', 'key', 'token', 'access_token', 'app_key', 'user_key', 'password', 'secret', 'client_secret', 'signature', 'sig'])
      .describe('Query parameters whose values are replaced by [redacted] in logs (values the config marks secret, and the parameters an auth policy reads credentials from, are always redacted).'),
  })
  .describe('Logging.');

const upstreamSchema = z
  .strictObject({
    url: z
      .union([z.url(), z.array(z.url()).min(1)])
      .describe('Base URL of the upstream (http or https), or several for round-robin. A path in the URL is prepended to every request path.'),
    timeouts: z
      .strictObject({
        connect: duration('Time to open a connection (TCP and TLS).').prefault('5s'),
        headers: duration('Time from sending the request until the response head arrives.').prefault('30s'),
        body: duration('Longest pause between two chunks of the response body.').prefault('120s'),
      })
      .prefault({})
      .describe('Upstream timeouts; a timeout before the response starts answers 504.'),
    pool: z
      .strictObject({
        connections: z.number().int().min(1).default(128).describe('Most connections kept to each upstream URL.'),
        keepAlive: duration('How long an idle upstream connection is kept.').prefault('4s'),
      })
      .prefault({})
      .describe('Connection pool per upstream URL.'),
    tls: z
      .strictObject({
        ca: z.string().optional().describe('Path to a PEM file of CA certificates to trust for this upstream (it replaces the system list for this upstream).'),
        insecureSkipVerify: z.boolean().default(false).describe('Accept any certificate. Only for tests against self-signed upstreams; logged as a warning at start.'),
        servername: z.string().optional().describe('SNI server name to send, when it differs from the URL host.'),
      })
      .prefault({})
      .describe('TLS settings for https upstreams.'),
    retry: z
      .strictObject({
        attempts: z.number().int().min(0).max(5).default(0).describe('Extra attempts for idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE) without a body that failed to connect or were reset before a response. 0: never retry. Other methods are never retried.'),
      })
      .prefault({})
      .describe('Opt-in retries.'),
    preserveHost: z.boolean().default(false).describe("Send the client's Host header upstream instead of the upstream URL's host."),
  })
  .describe('A named upstream the routes can send requests to. Only configured upstreams are ever contacted.');

/** A policy reference in a route: a name from `policies:` or `{ <policy>: { options } }`. Checked per policy at compile. */
const policyRefSchema = z
  .union([z.string().min(1), z.record(z.string(), z.unknown())])
  .describe('A policy: the name of a block under `policies:`, or `{ policy-name: { options } }` inline (with `when`/`oneOf` to choose by environment, see Policies).');

const respondSchema = z
  .strictObject({
    status: z.number().int().min(100).max(599).default(200).describe('Status code.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Response headers.'),
    body: z.string().optional().describe('Body text.'),
    json: z.unknown().optional().describe('Body as JSON (sets content-type application/json).'),
  })
  .describe('Answer by the gateway itself, without an upstream: health checks, mocks.');

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

const matchSchema = z
  .strictObject({
    prefix: z.string().startsWith('/').optional().describe('Match paths starting with this prefix (e.g. /api/). A prefix ending without / also matches at a segment boundary: /api matches /api and /api/x, not /apix.'),
    path: z.string().startsWith('/').optional().describe('Match exactly this path.'),
    pattern: z.string().startsWith('/').optional().describe('Match a path pattern with :params (e.g. /users/:id/orders/:order); a trailing /* matches the rest.'),
    methods: z
      .array(z.string().transform((s) => s.toUpperCase()).pipe(z.enum(HTTP_METHODS)))
      .optional()
      .describe('Methods this route accepts (others get 405 with Allow). Default: all.'),
    host: z.string().optional().describe('Match only this Host (without port), e.g. api.example.com; *.example.com matches one label.'),
  })
  .refine((m) => [m.prefix, m.path, m.pattern].filter((x) => x !== undefined).length === 1, {
    message: 'expected exactly one of prefix, path or pattern',
  })
  .describe('Which requests a route takes. Routes are tried in the order written; the first match wins.');

/** Bound of every Redis command unless `redis.timeout` says otherwise. */
const REDIS_DEFAULT_TIMEOUT_MS = 250;

/** The top-level `redis` setting, normalized. */
export interface RedisSettings {
  /** Empty: no Redis. */
  url: string;
  /** Bound of every command, ms. */
  timeout: number;
}

/** `redis: URL` or `redis: { url, timeout }`; both give { url, timeout }. */
const redisSchema = z
  .union([
    z.string(),
    z.strictObject({
      url: z.string().describe('redis://[user:password@]host:port[/db], or rediss:// for TLS.'),
      timeout: duration('Longest wait for any Redis command (cache lookup or write, limit counter). When Redis is down, frozen or slower than this, the cache is bypassed and limits follow `rate-limit.failOpen`; nothing waits for Redis to come back.')
        .refine((ms) => ms > 0, 'must be more than 0')
        .prefault(`${REDIS_DEFAULT_TIMEOUT_MS}ms`),
    }),
  ], {
    // A union's own message is "Invalid input": name what was expected, or what is wrong inside the object.
    error: (iss) => {
      const inner = iss.code === 'invalid_union' && typeof iss.input === 'object' && iss.input !== null ? iss.errors[1]?.[0] : undefined;
      if (inner) return `${inner.path.length ? `${inner.path.join('.')}: ` : ''}${inner.message.replace(/^Invalid input: /, '')}`;
      return 'expected a Redis URL (redis://host:port) or { url, timeout }';
    },
  })
  .transform((v): RedisSettings => (typeof v === 'string' ? { url: v, timeout: REDIS_DEFAULT_TIMEOUT_MS } : v))
  .prefault('')
  .describe(`Redis shared by all instances for caches and limits: a URL, or { url, timeout } (timeout default ${REDIS_DEFAULT_TIMEOUT_MS}ms). Empty: in-process caches and limiters (per instance).`);

const routeSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/).optional().describe('Route name, used in logs and metrics. Default: route-<index>.'),
    match: matchSchema,
    upstream: z.string().optional().describe('Name of the upstream (under `upstreams:`) this route forwards to.'),
    respond: respondSchema.optional(),
    resource: resourceRouteSchema.optional(),
    stripPrefix: z.boolean().default(false).describe('Remove the matched prefix from the path before forwarding (prefix routes).'),
    rewrite: z.string().startsWith('/').optional().describe('Replace the path sent upstream; :params from the pattern and * (the rest) are substituted.'),
    maxBodySize: size('Largest request body accepted; larger ones get 413 before the upstream sees them whole.').prefault('10MiB'),
    rewriteRedirects: z
      .boolean()
      .default(true)
      .describe("Rewrite Location and Content-Location that point at this route's upstream to the gateway (as nginx's proxy_redirect default): the upstream URL becomes `publicUrl`, or a relative reference when publicUrl is unset, and the prefix stripPrefix removed is put back. Headers a rewrite-urls policy on the route rewrites are left to it."),
    policies: z.array(policyRefSchema).default([]).describe('Policies applied to this route (see Policies below). They run in priority order; `tollgate check` prints the chain.'),
  })
  .refine((r) => [r.upstream, r.respond, r.resource].filter((x) => x !== undefined).length === 1, { message: 'expected exactly one of upstream, respond or resource' })
  .describe('A route: what it matches, where it goes, and its policies.');

export const configSchema = z
  .strictObject({
    listen: listenSchema.prefault({}),
    admin: adminSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    log: logSchema.prefault({}),
    publicUrl: z.string().default('').describe('The URL clients reach the gateway at (used when rewriting upstream URLs; redirects become relative references when it is unset). Default: http://<listen host>:<port>.'),
    store: z.string().default('sqlite:./tollgate.db').describe('Where consumers, keys and usage live: sqlite:<file> (embedded default) or postgres://…'),
    redis: redisSchema,
    upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), upstreamSchema).default({}).describe('Named upstreams.'),
    policies: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), z.record(z.string(), z.unknown())).default({}).describe('Named, reusable policy blocks: `name: { policy-name: { options } }`, or `name: { oneOf: [...] }` to choose one by environment (see Policies). Routes list them by name.'),
    routes: z.array(routeSchema).default([]).describe('Routes, tried in order.'),
    services: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/), serviceSchema).default({}).describe('Services declared here (synced into the store at start).'),
    plans: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/), planSchema).default({}).describe('Plans declared here (synced into the store at start).'),
    applications: z.array(applicationSchema).default([]).describe('Applications declared here, with keys from the environment (synced into the store at start).'),
    users: z.array(userSchema).default([]).describe('Users declared here, passwords from the environment (synced into the store at start).'),
    limits: limitsSettingsSchema.prefault({}),
    resources: z.record(z.string().regex(IDENTIFIER, 'expected a lower-case SQL identifier (resource name)'), resourceSchema).default({}).describe('Datasets served as REST APIs from tables in the store (routes with `resource:`); fill them with `tollgate load-data`.'),
    storeReplicas: replicasSchema.prefault({}),
    threescale: threescaleSchema,
    oauth2: oauth2Schema.optional(),
    docs: docsSchema,
  })
  .describe('A Tollgate config file (YAML or JSON).');

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type UpstreamConfig = z.output<typeof upstreamSchema>;
