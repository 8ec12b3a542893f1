/** The 3scale API's routes, as src/config/compile.ts prepends them: exact paths, one answering hook each. */
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { compilePathMatcher } from '../../proxy/router.js';
import { endpointRoute } from '../../proxy/snapshot.js';
import type { CompiledRoute } from '../../proxy/snapshot.js';
import type { ConsumerServices } from '../../consumers/services.js';
import { createThreescaleApi } from './policy.js';

/** Reports carry at most 1000 transactions of a few hundred bytes each. */
const MAX_REPORT_BODY = 2 * 1024 * 1024;
/** Query names that carry provider or client credentials: redacted from logged URLs. */
const CREDENTIAL_QUERY = ['service_token', 'provider_key', 'app_key', 'user_key', 'access_token'];

export function threescaleRoutes(config: Config, consumers: ConsumerServices | undefined, log: Logger): { routes: CompiledRoute[]; credentialQuery: string[]; secrets: string[] } {
  const serviceProviderKeys = Object.fromEntries(Object.entries(config.services).map(([id, s]) => [id, s.providerKey]));
  const api = createThreescaleApi({ config: config.threescale, serviceProviderKeys, consumers, log });
  const routes = api.map(
    (e): CompiledRoute =>
      endpointRoute({
        name: `3scale-${e.name}`,
        matchPath: compilePathMatcher({ path: e.path }),
        methods: new Set([e.method]),
        hooks: e.hooks,
        priority: 0,
        maxBodySize: MAX_REPORT_BODY,
        // Never reached: the hook always answers.
        fallback: { status: 500, headers: { 'content-length': '0' }, body: null },
        describe: `3scale-${e.name}: path ${e.path}, ${e.method} -> 3scale Service Management API`,
      }),
  );
  const secrets = [config.threescale.providerKey, ...Object.values(config.services).flatMap((s) => [s.providerKey ?? '', s.token ?? ''])].filter(Boolean);
  return { routes, credentialQuery: CREDENTIAL_QUERY, secrets };
}
