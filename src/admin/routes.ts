/** /api/routes: the live routes, in match order, as `tollgate check` describes them (read only). */
import type { FastifyInstance } from 'fastify';
import type { Snapshot } from '../proxy/snapshot.js';
import { pageQuery, paginate } from './http.js';
import { redactConfig } from './redact.js';

/** Each compiled route with its config (secrets redacted); built-in routes (3scale's) come first and have none. */
export function describeRoutes(snap: Snapshot): unknown[] {
  const builtIn = snap.routes.length - snap.config.routes.length;
  return snap.routes.map((r, i) => ({ ...(i >= builtIn ? (redactConfig(snap.config.routes[i - builtIn], snap.redactText) as object) : { builtIn: true }), name: r.name, describe: r.describe }));
}

export function registerRoutes(app: FastifyInstance, routes: () => unknown[]): void {
  app.get('/api/routes', { schema: { querystring: { type: 'object', properties: pageQuery, additionalProperties: false } } }, async (req) => paginate(req, routes()));
}
