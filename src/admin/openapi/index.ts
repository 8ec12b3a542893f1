/**
 * The API docs on the admin listener: /openapi.json (the proxied routes from the live config, the 3scale
 * API when enabled, and every admin route registered with a fastify `schema`) and Swagger UI at /docs.
 * Admin routes are enumerated with an onRoute hook, so this must be registered before them.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { buildOpenApi, threescaleOperations } from '../../docs/openapi.js';
import type { ExtraOperation, Json, OpenApiDocument } from '../../docs/openapi.js';
import { DOCS_CSP, docsInit, docsPage, swaggerAssets } from '../../docs/ui.js';
import type { Snapshot } from '../../proxy/snapshot.js';

export interface AdminDocsDeps {
  /** The config being served (it changes on reload). */
  snapshot(): Snapshot;
  /** The proxy listener's URL, the document's server when the config sets no publicUrl. */
  proxyUrl(): string;
}

/** Admin endpoints answer on the admin listener itself: a relative server resolves against the document's URL. */
const ADMIN_SERVERS = [{ url: '/', description: 'The admin listener' }];
const ADMIN_TOKEN = { adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token (`admin.token`).' } };

/** `/api/keys/:id` → `/api/keys/{id}`. */
const openApiUrl = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{wildcard}');

/** One admin route (registered with a `schema`) as OpenAPI operations, one per method. */
export function adminOperations(route: Pick<RouteOptions, 'method' | 'url' | 'schema'>): ExtraOperation[] {
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
  const methods = [route.method].flat().map((m) => m.toLowerCase()).filter((m) => m !== 'head' || [route.method].flat().length === 1);
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

export function registerAdminDocs(app: FastifyInstance, deps: AdminDocsDeps): void {
  const admin: ExtraOperation[] = [];
  app.addHook('onRoute', (route) => {
    if (route.schema) admin.push(...adminOperations(route));
  });
  const built = new WeakMap<Snapshot, OpenApiDocument>();
  const document = (): OpenApiDocument => {
    const snap = deps.snapshot();
    let doc = built.get(snap);
    if (!doc) {
      const serverUrl = snap.config.publicUrl.replace(/\/+$/, '') || deps.proxyUrl();
      doc = buildOpenApi(snap.api, { serverUrl, extra: [...threescaleOperations(snap.config), ...admin], securitySchemes: ADMIN_TOKEN });
      built.set(snap, doc);
    }
    return doc;
  };
  const page = docsPage('/docs', 'Tollgate API docs');
  const init = docsInit('/openapi.json');
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
}
