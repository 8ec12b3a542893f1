/**
 * The admin app (control plane), on fastify: health and readiness, the admin API, its docs, /metrics and the
 * dashboard. Built on the listener's first request (src/admin/listener.ts). The data plane never imports this file.
 */
import Fastify from 'fastify';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import { registerAdminApi } from './api.js';
import type { AdminApiDeps } from './api.js';
import { installConventions } from './http.js';
import { loadXml } from '../policies/negotiate/xml.js';
import { registerAdminDocs } from './openapi/index.js';
import type { AdminDocsDeps } from './openapi/index.js';
import { registerDashboard } from './dashboard/routes.js';
import type { History } from './dashboard/history.js';
import { registerMetricsRoute } from './metrics.js';
import type { MetricsSources } from './metrics.js';

export interface AdminDeps {
  /** True while the gateway serves traffic (false before start and while shutting down). */
  ready: () => boolean;
  /** Config identity for /readyz: which file, loaded when. */
  info: () => Record<string, unknown>;
  /** The admin token ('' = none, allowed on loopback only: see adminToken in src/gateway.ts). */
  token?: () => string;
  /** The admin API under /api/ (src/admin/api.ts). */
  api?: AdminApiDeps;
  /** The live config and proxy URL for /openapi.json and /docs; without it they are not served. */
  docs?: AdminDocsDeps;
  /** Traffic counters for /metrics and the dashboard; absent when `metrics.enabled` is false. */
  metrics?: MetricsSources;
}

/** /readyz's answer (with the config identity's fields). */
const readySchema = { type: 'object', required: ['ready'], additionalProperties: true, properties: { ready: { type: 'boolean' } } };

/**
 * `serverFactory`: the listener bound at start (src/admin/listener.ts); without it fastify makes its own server.
 * `history`: the dashboard's sampler, running since start.
 */
export async function createAdminServer(deps: AdminDeps, serverFactory?: FastifyServerFactory, history?: History): Promise<FastifyInstance> {
  // Unknown body fields are refused (400), not silently dropped (fastify's default removeAdditional).
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false } }, ...(serverFactory && { serverFactory }) });
  // First: auth (with its public allow-list), catalogue errors and ETags apply to every route added below.
  // The admin API answers XML by Accept (installConventions): its XML builder loads with the admin server.
  await loadXml();
  installConventions(app, deps.token ?? (() => ''));
  // Next: its onRoute hook lists every route registered after it with a `schema` in /openapi.json.
  if (deps.docs) registerAdminDocs(app, deps.docs);
  if (deps.api) registerAdminApi(app, deps.api);
  const health = { tags: ['health'], security: [] };
  app.get('/healthz', { schema: { ...health, summary: 'Liveness', response: { 200: { description: 'The process is up.', type: 'object', properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true }));
  app.get('/readyz', { schema: { ...health, summary: 'Readiness', response: { 200: { description: 'Serving traffic.', ...readySchema }, 503: { description: 'Starting or shutting down.', ...readySchema } } } }, async (_req, reply) => {
    const ready = deps.ready();
    reply.code(ready ? 200 : 503);
    return { ready, ...deps.info() };
  });
  if (deps.metrics) {
    registerMetricsRoute(app, deps.metrics);
    await registerDashboard(app, deps.metrics, history);
  }
  app.setNotFoundHandler(async (_req, reply) => {
    reply.code(404);
    return { error: 'No admin endpoint here.', code: 'TG_NOT_FOUND' };
  });
  return app;
}
