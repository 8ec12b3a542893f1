/**
 * The API docs on the admin listener: /openapi.json (the proxied routes from the live config, the 3scale
 * API when enabled, and every admin route registered with a fastify `schema`) and Swagger UI at /docs.
 * Admin routes are enumerated with an onRoute hook, so this must be registered before them.
 */
import { request } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { buildOpenApi, componentName, gatewayOperations } from '../../docs/openapi.js';
import type { ExtraOperation, Json, OpenApiDocument } from '../../docs/openapi.js';
import { DOCS_CSP, docsInit, docsPage, swaggerAssets } from '../../docs/ui.js';
import type { Snapshot } from '../../proxy/snapshot.js';

export interface AdminDocsDeps {
  /** The config being served (it changes on reload). */
  snapshot(): Snapshot;
  /** The proxy listener's URL, the document's server when the config sets no publicUrl. */
  proxyUrl: () => string;
}

/** Admin endpoints answer on the admin listener itself: a relative server resolves against the document's URL. */
const ADMIN_SERVERS = [{ url: '/', description: 'The admin listener' }];
const ADMIN_TOKEN = { adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token (`admin.token`).' } };

/** `/api/keys/:id` → `/api/keys/{id}`. */
const openApiUrl = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{wildcard}');

/** One admin route (registered with a `schema`) as OpenAPI operations, one per method. */
function adminOperations(route: Pick<RouteOptions, 'method' | 'url' | 'schema'>): ExtraOperation[] {
  const schema = (route.schema ?? {}) as Record<string, unknown> & {
    params?: { properties?: Record<string, Json>; required?: string[] };
    querystring?: { properties?: Record<string, Json>; required?: string[] };
    headers?: { properties?: Record<string, Json>; required?: string[] };
    body?: Json;
    response?: Record<string, Json>;
  };
  if (schema.hide === true) return [];
  const path = openApiUrl(route.url);
  const params = (where: 'path' | 'query' | 'header', s: typeof schema.params) =>
    Object.entries(s?.properties ?? {}).map(([name, p]) => ({ name, in: where, required: where === 'path' || (s?.required ?? []).includes(name), schema: p }));
  const declared = new Set(Object.keys(schema.params?.properties ?? {}));
  // A path parameter the schema forgot is still a string parameter.
  const implicit = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).filter((n) => !declared.has(n)).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  const responses: Json = {};
  for (const [status, s] of Object.entries(schema.response ?? { 200: {} })) {
    const code = status.replace(/xx$/i, 'XX');
    const { description, ...body } = s as Json & { description?: string };
    responses[code] = { description: typeof description === 'string' ? description : 'Answer.', ...(Object.keys(body).length ? { content: { 'application/json': { schema: body } } } : {}) };
  }
  const methods = [route.method].flat().map((m) => m.toLowerCase());
  return methods.map((method) => ({
    method,
    path,
    servers: ADMIN_SERVERS,
    operation: {
      ...(typeof schema.summary === 'string' ? { summary: schema.summary } : {}),
      ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      tags: Array.isArray(schema.tags) ? schema.tags : ['admin'],
      parameters: [...params('path', schema.params), ...implicit, ...params('query', schema.querystring), ...params('header', schema.headers)],
      ...(schema.body && method !== 'get' && method !== 'head' ? { requestBody: { required: true, content: { 'application/json': { schema: schema.body } } } } : {}),
      responses,
      // The admin API needs the token; /healthz, /readyz and /metrics do not.
      security: Array.isArray(schema.security) ? schema.security : route.url.startsWith('/api/') ? [{ adminToken: [] }] : [],
    },
  }));
}

/** A wildcard listen address is not one a browser (or this relay) can connect to: its loopback is. */
function reachable(url: string): string {
  return url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}

const RELAY = '/docs/try';
/** Hop-by-hop headers (RFC 9110 §7.6.1) and those the relay sets itself. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'content-length']);

/**
 * "Try it out" from the admin listener's page: its requests go to the gateway, another origin, which sends
 * no CORS headers. The page sends them here instead (same origin) and they are passed on, unchanged, to
 * this instance's proxy listener, and only there: the relay reaches nothing a client could not.
 */
function relay(proxyUrl: () => string) {
  return (req: FastifyRequest, reply: FastifyReply) =>
    new Promise<FastifyReply>((resolve) => {
      const target = new URL(reachable(proxyUrl()));
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
      if (req.headers['content-length']) headers['content-length'] = req.headers['content-length'];
      else if (req.headers['transfer-encoding']) headers['transfer-encoding'] = 'chunked';
      const up = request({ host: target.hostname.replace(/^\[|\]$/g, ''), port: target.port, method: req.method, path: req.raw.url!.slice(RELAY.length) || '/', headers });
      up.on('response', (res) => {
        reply.code(res.statusCode ?? 502);
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && !HOP.has(k)) reply.header(k, v);
        resolve(reply.send(res));
      });
      up.on('error', () => resolve(reply.code(502).send({ error: 'The gateway could not be reached.', code: 'TG_UPSTREAM_ERROR' })));
      req.raw.pipe(up);
    });
}

/**
 * Shared schemas (`app.addSchema({ $id })`) as components: references like `thing#` or `thing#/properties/x`
 * become `#/components/schemas/thing…`, which is where OpenAPI tools look.
 */
function sharedSchemas(byId: Record<string, Json>, ops: ExtraOperation[]): { schemas: Record<string, Json>; operations: ExtraOperation[] } {
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (typeof v !== 'object' || v === null) return v;
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && !x.startsWith('#')) {
        const [id, pointer = ''] = x.split('#');
        out[k] = byId[id] ? `#/components/schemas/${componentName(id)}${pointer}` : x;
      } else if (k !== '$id') out[k] = rewrite(x);
    }
    return out;
  };
  const schemas: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(byId)) schemas[componentName(id)] = rewrite(schema) as Json;
  return { schemas, operations: ops.map((o) => ({ ...o, operation: rewrite(o.operation) as Json })) };
}

export function registerAdminDocs(app: FastifyInstance, deps: AdminDocsDeps): void {
  const admin: ExtraOperation[] = [];
  // Shared schemas of every context that registered a documented route (a plugin's own are visible only in it).
  const shared: Record<string, Json> = {};
  app.addHook('onRoute', function (route) {
    if (!route.schema) return;
    Object.assign(shared, this.getSchemas());
    // Fastify adds a HEAD route for every GET (exposeHeadRoutes): the GET stands for both, as elsewhere.
    const ops = adminOperations(route).filter((o) => o.method !== 'head' || !admin.some((a) => a.method === 'get' && a.path === o.path));
    admin.push(...ops);
  });
  const built = new WeakMap<Snapshot, OpenApiDocument>();
  const document = (): OpenApiDocument => {
    const snap = deps.snapshot();
    let doc = built.get(snap);
    if (!doc) {
      const serverUrl = snap.config.publicUrl.replace(/\/+$/, '') || reachable(deps.proxyUrl());
      const resolved = sharedSchemas({ ...(app.getSchemas() as Record<string, Json>), ...shared }, admin);
      doc = buildOpenApi(snap.api, { serverUrl, extra: [...gatewayOperations(snap.config), ...resolved.operations], securitySchemes: ADMIN_TOKEN, schemas: resolved.schemas });
      built.set(snap, doc);
    }
    return doc;
  };
  const page = docsPage('/docs', 'Tollgate API docs');
  const init = docsInit('/openapi.json', RELAY);
  app.get('/openapi.json', async (_req, reply) => {
    reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8');
    return JSON.stringify(document());
  });
  app.get('/docs', async (_req, reply) => {
    reply.header('content-security-policy', DOCS_CSP).header('cache-control', 'no-cache').type('text/html; charset=utf-8');
    return page;
  });
  app.get<{ Params: { name: string } }>('/docs/assets/:name', async (req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    if (req.params.name === 'init.js') return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(init);
    const asset = (await swaggerAssets()).get(req.params.name);
    if (!asset) return reply.code(404).send({ error: 'No such docs asset.', code: 'TG_NOT_FOUND' });
    return reply.type(asset.type).header('cache-control', 'public, max-age=86400').send(asset.body);
  });
  // Bodies go on as streams, whatever their type: this scope parses none.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    scope.all(`${RELAY}/*`, relay(deps.proxyUrl));
    scope.all(RELAY, relay(deps.proxyUrl));
  });
}
