/**
 * The admin listener (control plane), on fastify: health and readiness now; the admin API and dashboard
 * mount here in later versions. The data plane never imports this file.
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { registerAdminApi } from './api.js';
import type { AdminApiDeps } from './api.js';
import { installConventions } from './http.js';

export interface AdminDeps {
  /** True while the gateway serves traffic (false before start and while shutting down). */
  ready(): boolean;
  /** Config identity for /readyz: which file, loaded when. */
  info(): Record<string, unknown>;
  /** The admin token ('' = none, allowed on loopback only: see adminToken in src/gateway.ts). */
  token?(): string;
  /** The admin API under /api/ (src/admin/api.ts). */
  api?: AdminApiDeps;
}

export async function createAdminServer(deps: AdminDeps): Promise<FastifyInstance> {
  // Unknown body fields are refused (400), not silently dropped (fastify's default removeAdditional).
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false } } });
  // First: auth (with its public allow-list), catalogue errors and ETags apply to every route added below.
  installConventions(app, deps.token ?? (() => ''));
  if (deps.api) registerAdminApi(app, deps.api);
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const ready = deps.ready();
    reply.code(ready ? 200 : 503);
    return { ready, ...deps.info() };
  });
  app.setNotFoundHandler(async (_req, reply) => {
    reply.code(404);
    return { error: 'No admin endpoint here.', code: 'TG_NOT_FOUND' };
  });
  return app;
}
