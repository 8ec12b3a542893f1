/**
 * The admin API under /api/: one file per resource, each registering its fastify routes with JSON schemas.
 * Consumer resources go through the same operations as the CLI (src/store/operations.ts) on the gateway's
 * own store, so a change is in the store's change log and every instance's directory sees it within a second.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.js';
import type { Operations } from '../store/operations.js';
import { registerApplications } from './applications.js';
import { registerCache } from './cache.js';
import type { CacheControl } from './cache.js';
import { registerConfig } from './config.js';
import { registerKeys } from './keys.js';
import { registerPlans } from './plans.js';
import { registerRoutes } from './routes.js';
import { registerServices } from './services.js';
import { registerUsage } from './usage.js';
import { registerUsers } from './users.js';

export interface AdminApiDeps {
  /** The consumer operations on the gateway's store; undefined when its config opened no store. */
  operations: () => Operations | undefined;
  /** The live config, every secret redacted. */
  config: () => unknown;
  /** The live routes, as `tollgate check` describes them (secrets redacted). */
  routes: () => unknown[];
  cache: CacheControl;
}

export type OpsGetter = () => Operations;

export function registerAdminApi(app: FastifyInstance, deps: AdminApiDeps): void {
  const ops: OpsGetter = () => {
    const o = deps.operations();
    if (!o) throw new GatewayError('TG_STORE_UNAVAILABLE', 'This gateway opened no consumer store: its config declares no services, plans, applications or users and no route uses auth, rate-limit or usage.');
    return o;
  };
  registerServices(app, ops);
  registerPlans(app, ops);
  registerApplications(app, ops);
  registerKeys(app, ops);
  registerUsers(app, ops);
  registerUsage(app, ops);
  registerCache(app, deps.cache);
  registerConfig(app, deps.config);
  registerRoutes(app, deps.routes);
}
