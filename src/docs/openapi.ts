/**
 * The OpenAPI 3.1 document of what the gateway serves (https://spec.openapis.org/oas/v3.1.0), built from the
 * same config and policy options that the proxy compiles: route matches become paths and parameters, auth
 * policies' credential locations become security schemes, rate limits, content negotiation and validation
 * add their headers, media types and error answers. Errors use the catalogue's shape (src/errors.ts).
 * Built once per compiled config (lazily), never per request.
 */
import { ERRORS } from '../errors.js';
import type { Config, RouteConfig } from '../config/schema.js';
import type { AuthOptions } from '../policies/auth/schema.js';
import type { RateLimitOptions } from '../policies/rate-limit/schema.js';
import type { NegotiateOptions } from '../policies/negotiate/schema.js';
import type { ValidateOptions } from '../policies/validate/schema.js';
import type { MapErrorsOptions } from '../policies/map-errors/schema.js';

/** A JSON object of the document (OpenAPI objects are open-ended; the structural test checks the shape). */
export type Json = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description?: string };
  servers: { url: string; description?: string }[];
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json>; headers: Record<string, Json>; securitySchemes: Record<string, Json> };
  tags?: { name: string; description?: string }[];
}

/** A configured route with its resolved policies, as compile.ts resolved them. */
interface DescribedRoute {
  name: string;
  route: RouteConfig;
  policies: { name: string; options: unknown }[];
}

/** An operation added from outside the config (the admin API's fastify routes, the 3scale API). */
export interface ExtraOperation {
  method: string;
  /** OpenAPI path, `{param}` style. */
  path: string;
  operation: Json;
  /** Path-level servers (admin endpoints answer on the admin listener, not the proxy's). */
  servers?: { url: string; description?: string }[];
}

export interface ApiInput {
  config: Config;
  routes: DescribedRoute[];
}

export interface BuildOptions {
  /** Top-level server: where "Try it out" sends requests to the proxied routes. */
  serverUrl: string;
  extra?: ExtraOperation[];
  /** Extra security schemes the extra operations name. */
  securitySchemes?: Record<string, Json>;
  /** Extra component schemas the extra operations refer to. */
  schemas?: Record<string, Json>;
}

const ANY_METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const ERROR_CODES = Object.keys(ERRORS);

const ref = (kind: 'schemas' | 'responses' | 'headers' | 'securitySchemes', name: string) => ({ $ref: `#/components/${kind}/${name}` });

/** Component names allow letters, digits, `.`, `-` and `_` only. */
export const componentName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

function baseComponents(): OpenApiDocument['components'] {
  const errorResponse = (description: string, code: keyof typeof ERRORS, extraHeaders: Record<string, unknown> = {}) => ({
    description,
    headers: extraHeaders,
    content: { 'application/json': { schema: ref('schemas', 'Error'), example: { error: ERRORS[code].message, code, requestId: '3f2b6c1e-8a7d-4f3e-9c2a-1b5d7e9f0a12' } } },
  });
  return {
    schemas: {
      Error: {
        type: 'object',
        description: "The gateway's error answer (docs/errors.md lists every code).",
        required: ['error', 'code'],
        properties: {
          error: { type: 'string', description: 'A readable message.' },
          code: { type: 'string', enum: ERROR_CODES, description: 'A stable code from the catalogue.' },
          requestId: { type: 'string', description: 'The request id, also in the X-Request-Id header and the logs.' },
        },
      },
    },
    headers: {
      RateLimit: { description: 'Remaining quota of the tightest limit (draft-ietf-httpapi-ratelimit-headers), e.g. `"default";r=4;t=42`.', schema: { type: 'string' } },
      'RateLimit-Policy': { description: 'The limit applied (draft-ietf-httpapi-ratelimit-headers), e.g. `"default";q=5;w=60`.', schema: { type: 'string' } },
      'Retry-After': { description: 'Seconds to wait before trying again (RFC 9110 §10.2.3).', schema: { type: 'integer', minimum: 0 } },
      'WWW-Authenticate': { description: 'The challenge for the credentials the route accepts (RFC 9110 §11.6.1).', schema: { type: 'string' } },
      Vary: { description: 'Accept: the answer depends on the Accept header.', schema: { type: 'string' } },
    },
    responses: {
      BadRequest: errorResponse('The request or its parameters are invalid (TG_BAD_REQUEST, TG_VALIDATION_FAILED, TG_AMBIGUOUS_CREDENTIALS).', 'TG_VALIDATION_FAILED'),
      Unauthorized: errorResponse('Missing or wrong credentials (TG_UNAUTHORIZED).', 'TG_UNAUTHORIZED', { 'WWW-Authenticate': ref('headers', 'WWW-Authenticate') }),
      Forbidden: errorResponse('Known credentials that may not use this route (TG_FORBIDDEN).', 'TG_FORBIDDEN'),
      NotAcceptable: errorResponse('The Accept header allows none of the media types the route answers with (TG_NOT_ACCEPTABLE).', 'TG_NOT_ACCEPTABLE', { Vary: ref('headers', 'Vary') }),
      BodyTooLarge: errorResponse('The request body is larger than the route accepts (TG_BODY_TOO_LARGE).', 'TG_BODY_TOO_LARGE'),
      UnsupportedMediaType: errorResponse('The request body is in a media type the route does not accept (TG_UNSUPPORTED_MEDIA_TYPE).', 'TG_UNSUPPORTED_MEDIA_TYPE'),
      RateLimited: errorResponse('A rate limit was reached (TG_RATE_LIMITED); try again after Retry-After seconds.', 'TG_RATE_LIMITED', { 'Retry-After': ref('headers', 'Retry-After') }),
      LimitsUnavailable: errorResponse('Rate limits cannot be checked right now (TG_LIMITS_UNAVAILABLE).', 'TG_LIMITS_UNAVAILABLE', { 'Retry-After': ref('headers', 'Retry-After') }),
      UpstreamError: errorResponse('The upstream refused, reset or sent an invalid response (TG_UPSTREAM_ERROR).', 'TG_UPSTREAM_ERROR'),
      UpstreamTimeout: errorResponse('The upstream did not answer in time (TG_UPSTREAM_TIMEOUT).', 'TG_UPSTREAM_TIMEOUT'),
    },
    securitySchemes: {},
  };
}

/** `/users/:id/orders/*` → `/users/{id}/orders/{rest}` and its path parameters. */
function openApiPath(route: RouteConfig): { path: string; params: { name: string; description: string }[]; kind: string } {
  const m = route.match;
  if (m.path !== undefined) return { path: m.path, params: [], kind: 'path' };
  if (m.prefix !== undefined) {
    const base = m.prefix.endsWith('/') ? m.prefix : `${m.prefix}/`;
    return { path: `${base}{path}`, params: [{ name: 'path', description: `The rest of the path after ${base} (this route takes every path under ${m.prefix}).` }], kind: 'prefix' };
  }
  const parts = (m.pattern ?? '/').split('/').slice(1);
  const params: { name: string; description: string }[] = [];
  const out = parts.map((part, i) => {
    if (part === '*' && i === parts.length - 1) {
      params.push({ name: 'rest', description: 'The rest of the path.' });
      return '{rest}';
    }
    if (part.startsWith(':')) {
      params.push({ name: part.slice(1), description: `Path segment \`${part}\`.` });
      return `{${part.slice(1)}}`;
    }
    return part;
  });
  return { path: '/' + out.join('/'), params, kind: 'pattern' };
}

/** Security schemes of an auth policy, and the requirement alternatives (any one of them passes). */
function authSecurity(a: AuthOptions, schemes: Record<string, Json>): Record<string, string[]>[] {
  const alternatives: Record<string, string[]>[] = [];
  const apiKey = (where: 'header' | 'query', name: string, description: string) => {
    const id = componentName(`${where === 'header' ? 'header' : 'query'}.${name}`);
    schemes[id] ??= { type: 'apiKey', in: where, name, description };
    return id;
  };
  if (a.apiKey) {
    const header = a.apiKey.header ?? (a.apiKey.query === undefined ? 'x-api-key' : undefined);
    if (header) alternatives.push({ [apiKey('header', header, 'API key.')]: [] });
    if (a.apiKey.query) alternatives.push({ [apiKey('query', a.apiKey.query, 'API key.')]: [] });
    if (a.apiKey.bearer) {
      schemes['bearer.apiKey'] ??= { type: 'http', scheme: 'bearer', description: 'API key as a bearer token (RFC 6750).' };
      alternatives.push({ 'bearer.apiKey': [] });
    }
  }
  if (a.appId) {
    alternatives.push({ [apiKey('header', a.appId.idHeader, 'Application id.')]: [], [apiKey('header', a.appId.keyHeader, 'One of the application\'s keys.')]: [] });
    alternatives.push({ [apiKey('query', a.appId.idQuery, 'Application id.')]: [], [apiKey('query', a.appId.keyQuery, 'One of the application\'s keys.')]: [] });
  }
  if (a.userKey) {
    alternatives.push({ [apiKey('query', a.userKey.query, 'User key.')]: [] });
    if (a.userKey.header) alternatives.push({ [apiKey('header', a.userKey.header, 'User key.')]: [] });
  }
  if (a.basic) {
    schemes.basic ??= { type: 'http', scheme: 'basic', description: 'HTTP Basic with a user of the store (RFC 7617).' };
    alternatives.push({ basic: [] });
  }
  if (a.jwt) {
    schemes['bearer.jwt'] ??= { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT from the identity provider (RFC 6750, RFC 7519).' };
    alternatives.push({ 'bearer.jwt': [] });
  }
  // An empty requirement: calling without credentials is allowed (anonymous plan).
  if (a.anonymous !== undefined) alternatives.push({});
  return alternatives;
}

function jsonSchemaOf(s: Record<string, unknown> | undefined): Json | undefined {
  return s ? { ...s } : undefined;
}

/** Query parameters a validate policy declares: each property of its query schema, with `required`. */
function validateParameters(v: ValidateOptions): Json[] {
  const q = v.query as { properties?: Record<string, Json>; required?: string[] } | undefined;
  if (!q?.properties) return [];
  const required = new Set(q.required ?? []);
  return Object.entries(q.properties).map(([name, schema]) => ({
    name,
    in: 'query',
    required: required.has(name),
    schema,
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
  }));
}

function operationFor(d: DescribedRoute, method: string, params: Json[], schemes: Record<string, Json>, kind: string): Json {
  const r = d.route;
  const opt = <T>(name: string) => d.policies.find((p) => p.name === name)?.options as T | undefined;
  const auth = opt<AuthOptions>('auth');
  const limit = opt<RateLimitOptions>('rate-limit');
  const negotiate = opt<NegotiateOptions>('negotiate');
  const validate = opt<ValidateOptions>('validate');

  const successHeaders: Json = {};
  const responses: Json = {};
  if (limit?.headers) {
    successHeaders.RateLimit = ref('headers', 'RateLimit');
    successHeaders['RateLimit-Policy'] = ref('headers', 'RateLimit-Policy');
  }
  if (negotiate?.response) successHeaders.Vary = ref('headers', 'Vary');
  const media: Json = {};
  if (r.respond) {
    const type = r.respond.headers['content-type'] ?? r.respond.headers['Content-Type'] ?? (r.respond.json !== undefined ? 'application/json' : r.respond.body !== undefined ? 'text/plain' : undefined);
    if (type) media[type.split(';')[0].trim()] = r.respond.json !== undefined ? { example: r.respond.json } : r.respond.body !== undefined ? { example: r.respond.body } : {};
    responses[String(r.respond.status)] = { description: 'The gateway answers this itself.', headers: successHeaders, ...(Object.keys(media).length ? { content: media } : {}) };
  } else {
    if (negotiate?.response) {
      media['application/json'] = {};
      media['application/xml'] = { description: 'Converted from the upstream\'s JSON when Accept asks for XML.' };
    }
    // Upstream names and URLs stay out: the document is also the consumers'.
    responses.default = { description: "The API's answer.", headers: successHeaders, ...(Object.keys(media).length ? { content: media } : {}) };
  }
  const add = (status: string, name: string) => {
    responses[status] ??= ref('responses', name);
  };
  /** An answer the config writes out itself (validate's onError/onMissing, map-errors' respond). */
  const written = (status: number, description: string, body: { json?: unknown; body?: string }) => {
    const key = String(status);
    const content = body.json !== undefined ? { 'application/json': { example: body.json } } : body.body !== undefined ? { 'text/plain': { example: body.body } } : undefined;
    const prev = responses[key] as { description?: string; content?: Json } | undefined;
    if (prev && !('$ref' in prev)) {
      // Two written answers with one status: both bodies are possible.
      prev.description = `${prev.description} ${description}`;
      if (content && prev.content) for (const [type, m] of Object.entries(content)) (prev.content)[type] ??= m;
      return;
    }
    responses[key] = { description, ...(content ? { content } : {}) };
  };
  if (validate?.onError) written(validate.onError.status, 'Invalid parameters.', validate.onError);
  if (validate?.onMissing) written(validate.onMissing.status, 'A required parameter is missing.', validate.onMissing);
  const mapErrors = opt<MapErrorsOptions>('map-errors');
  for (const rule of mapErrors ? (Array.isArray(mapErrors) ? mapErrors : mapErrors.rules) : []) {
    written(rule.respond.status, `The gateway's answer in place of some upstream answers (\`${d.name}\` map-errors).`, rule.respond);
  }
  if (validate) add('400', 'BadRequest');
  if (auth) {
    add('400', 'BadRequest');
    if (auth.apiKey || auth.appId || auth.userKey || auth.basic || auth.jwt) {
      add('401', 'Unauthorized');
      add('403', 'Forbidden');
    }
    add('429', 'RateLimited');
  }
  if (negotiate?.response) add('406', 'NotAcceptable');
  const takesBody = method !== 'get' && method !== 'head' && method !== 'delete' && method !== 'options';
  if (negotiate?.request && takesBody) add('415', 'UnsupportedMediaType');
  if (limit) {
    add('429', 'RateLimited');
    if (!limit.failOpen) add('503', 'LimitsUnavailable');
  }
  if (!r.respond) {
    if (takesBody) add('413', 'BodyTooLarge');
    add('502', 'UpstreamError');
    add('504', 'UpstreamTimeout');
  }

  const op: Json = {
    operationId: componentName(`${d.name}.${method}`),
    summary: `${d.name}`,
    description: describeMatch(r, kind),
    tags: [d.name],
    parameters: [...params, ...(validate ? validateParameters(validate) : [])],
    responses,
  };
  const alternatives = auth ? authSecurity(auth, schemes) : [];
  op.security = alternatives;
  if (takesBody && !r.respond) {
    const content: Json = {};
    const body = validate?.body ? jsonSchemaOf(validate.body) : undefined;
    content['application/json'] = body ? { schema: body } : {};
    if (negotiate?.request) {
      content['application/xml'] = {};
      content['application/x-www-form-urlencoded'] = {};
      content['multipart/form-data'] = {};
    }
    op.requestBody = { required: false, content };
  }
  return op;
}

function describeMatch(r: RouteConfig, kind: string): string {
  const m = r.match;
  const lines = [
    kind === 'prefix' ? `Every path under \`${m.prefix}\`.` : kind === 'pattern' ? `Path pattern \`${m.pattern}\`.` : `Exactly \`${m.path}\`.`,
    m.host ? `Only for Host \`${m.host}\`.` : '',
    m.methods ? '' : 'Any method is accepted; the common ones are listed.',
    r.upstream ? '' : 'Answered by the gateway itself.',
  ];
  return lines.filter(Boolean).join(' ');
}

/** The OpenAPI document of the configured routes (and `extra` operations). */
export function buildOpenApi(input: ApiInput, opts: BuildOptions): OpenApiDocument {
  const components = baseComponents();
  Object.assign(components.securitySchemes, opts.securitySchemes ?? {});
  Object.assign(components.schemas, opts.schemas ?? {});
  const paths: OpenApiDocument['paths'] = {};
  const tags: { name: string; description?: string }[] = [];
  for (const d of input.routes) {
    const { path, params, kind } = openApiPath(d.route);
    const parameters: Json[] = params.map((p) => ({ name: p.name, in: 'path', required: true, description: p.description, schema: { type: 'string' } }));
    const methods = d.route.match.methods ? d.route.match.methods.map((m) => m.toLowerCase()) : ANY_METHODS;
    const item = (paths[path] ??= {});
    let used = false;
    for (const method of methods) {
      // Routes are tried in order: a method an earlier route with the same path already takes never reaches this one.
      if (item[method]) continue;
      item[method] = operationFor(d, method, parameters, components.securitySchemes, kind);
      used = true;
    }
    if (used) tags.push({ name: d.name, description: describeMatch(d.route, kind) });
  }
  for (const e of opts.extra ?? []) {
    const item = (paths[e.path] ??= {});
    if (e.servers) item.servers = e.servers;
    item[e.method.toLowerCase()] ??= e.operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tollgate', version: '1', description: 'The APIs this gateway serves, generated from its config. Errors use one JSON shape (components.schemas.Error).' },
    servers: [{ url: opts.serverUrl, description: 'The gateway' }],
    paths,
    components,
    tags,
  };
}

/** The 3scale Service Management API's endpoints, when `threescale.enabled`. */
function threescaleOperations(config: Config): ExtraOperation[] {
  if (!config.threescale.enabled) return [];
  const base = config.threescale.prefix.replace(/\/+$/, '');
  const xml = (description: string) => ({ description, content: { 'application/vnd.3scale-v2.0+xml': { schema: { type: 'string' } }} });
  const cred = [
    { name: 'service_token', in: 'query', required: false, schema: { type: 'string' }, description: 'Service token (or provider_key).' },
    { name: 'provider_key', in: 'query', required: false, schema: { type: 'string' }, description: 'Provider key (or service_token).' },
    { name: 'service_id', in: 'query', required: false, schema: { type: 'string' }, description: 'The service.' },
  ];
  const app = [
    { name: 'app_id', in: 'query', required: false, schema: { type: 'string' } },
    { name: 'app_key', in: 'query', required: false, schema: { type: 'string' } },
    { name: 'user_key', in: 'query', required: false, schema: { type: 'string' } },
    { name: 'usage', in: 'query', required: false, style: 'deepObject', explode: true, schema: { type: 'object', additionalProperties: { type: 'integer' } }, description: 'usage[metric]=n' },
  ];
  const get = (name: string, path: string, summary: string, oauth: boolean): ExtraOperation => ({
    method: 'get',
    path: base + path,
    operation: {
      operationId: `threescale.${name}`,
      summary,
      tags: ['3scale'],
      parameters: [...cred, ...(oauth ? [{ name: 'access_token', in: 'query', required: false, schema: { type: 'string' } }] : []), ...app],
      responses: { 200: xml('Authorized.'), 400: xml('Bad request.'), 403: xml('Bad provider or application credentials.'), 404: xml('Unknown service, application, metric or access token.'), 409: xml('Not authorized (a limit is exceeded, the application is suspended, …).'), 422: xml('Invalid usage value.'), 503: xml('The store is unavailable.') },
    },
  });
  return [
    get('authorize', '/transactions/authorize.xml', 'Authorize a call', false),
    get('authrep', '/transactions/authrep.xml', 'Authorize and report a call', false),
    get('oauth_authorize', '/transactions/oauth_authorize.xml', 'Authorize a call (OAuth)', true),
    get('oauth_authrep', '/transactions/oauth_authrep.xml', 'Authorize and report a call (OAuth)', true),
    {
      method: 'post',
      path: `${base}/transactions.xml`,
      operation: {
        operationId: 'threescale.report',
        summary: 'Report transactions',
        tags: ['3scale'],
        requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } } } },
        responses: { 202: { description: 'Accepted.' }, 400: xml('Bad request.'), 403: xml('Bad provider credentials.'), 404: xml('Unknown service, application or metric.'), 503: xml('The store is unavailable.') },
      },
    },
  ];
}

/** The OAuth2 provider's endpoints (RFC 6749 token, RFC 7009 revocation, RFC 7662 introspection), when `oauth2:` is set. */
function oauth2Operations(config: Config): ExtraOperation[] {
  const o = config.oauth2;
  if (!o) return [];
  const json = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
  const form = (properties: Record<string, Json>, required: string[]) => ({
    required: true,
    content: {
      'application/x-www-form-urlencoded': { schema: { type: 'object', properties, required } },
      'application/json': { schema: { type: 'object', properties, required } },
    },
  });
  const client = { client_id: { type: 'string' }, client_secret: { type: 'string', description: 'Or HTTP Basic (RFC 6749 §2.3.1).' } };
  const op = (name: string, path: string, summary: string, body: ReturnType<typeof form>, ok: string): ExtraOperation => ({
    method: 'post',
    path,
    operation: {
      operationId: `oauth2.${name}`,
      summary,
      tags: ['OAuth2'],
      requestBody: body,
      responses: { 200: json(ok), 400: json('invalid_request, invalid_grant, unsupported_grant_type, invalid_scope, unauthorized_client (RFC 6749 §5.2).'), 401: json('invalid_client.'), 429: json('Too many failed attempts from this address.') },
    },
  });
  return [
    op(
      'token',
      o.tokenPath,
      'Issue an access token (password, refresh_token, client_credentials)',
      form({ grant_type: { type: 'string', enum: ['password', 'refresh_token', 'client_credentials'] }, username: { type: 'string' }, password: { type: 'string' }, refresh_token: { type: 'string' }, scope: { type: 'string' }, ...client }, ['grant_type']),
      '{access_token, token_type: "Bearer", expires_in, refresh_token?, scope}',
    ),
    op('revoke', o.revokePath, 'Revoke an access or refresh token (RFC 7009)', form({ token: { type: 'string' }, token_type_hint: { type: 'string' }, ...client }, ['token']), '{} (also for an unknown token).'),
    op('introspect', o.introspectPath, 'Describe a token (RFC 7662), for confidential clients', form({ token: { type: 'string' }, ...client }, ['token']), '{active, scope, client_id, exp, …}'),
  ];
}

/** The endpoints the gateway itself serves on the proxy listener (3scale, OAuth2), for both documents. */
export function gatewayOperations(config: Config): ExtraOperation[] {
  return [...threescaleOperations(config), ...oauth2Operations(config)];
}
