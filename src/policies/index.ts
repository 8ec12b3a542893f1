/**
 * The built-in policies. Adding one: create src/policies/<name>/{schema.ts,policy.ts,policy.test.ts}, export its
 * name, description, priority and schema from schema.ts (`<name>Info`) and list it here; config validation,
 * docs/config.md and `tollgate check` pick it up from this list. Only the schemas load with this module: a
 * policy's implementation (policy.ts and what it imports) loads when a route of the config uses it, so a plain
 * config does not pay for the policies it does not use.
 */
import type { z } from 'zod';
import type { PolicyDefinition } from './types.js';
import { customInfo } from './custom/schema.js';
import { credentialsInfo } from './credentials/schema.js';
import { downloadInfo } from './download/schema.js';
import { mapErrorsInfo } from './map-errors/schema.js';
import { rewriteUrlsInfo } from './rewrite-urls/schema.js';
import { toPostInfo } from './to-post/schema.js';
import { transformInfo } from './transform/schema.js';
import { validateInfo } from './validate/schema.js';
import { oauth1Info } from './oauth1/schema.js';
import { authInfo } from './auth/schema.js';
import { rateLimitInfo } from './rate-limit/schema.js';
import { usageInfo } from './usage/schema.js';
import { cacheInfo } from './cache/schema.js';
import { negotiateInfo } from './negotiate/schema.js';

type PolicyInfo<S extends z.ZodType> = Pick<PolicyDefinition<S>, 'name' | 'description' | 'priority' | 'schema'>;

/** A definition whose `create` imports the implementation on first use (once per process). */
function lazy<S extends z.ZodType>(info: PolicyInfo<S>, load: () => Promise<PolicyDefinition<S>>): PolicyDefinition<S> {
  let impl: Promise<PolicyDefinition<S>> | undefined;
  return {
    ...info,
    async create(options, deps) {
      impl ??= load().catch((e: unknown) => {
        impl = undefined;
        throw new Error(`policy ${info.name}: its module failed to load: ${(e as Error).message}`);
      });
      return (await impl).create(options, deps);
    },
  };
}

export const builtinPolicies: readonly PolicyDefinition[] = [
  lazy(oauth1Info, async () => (await import('./oauth1/policy.js')).oauth1Policy),
  lazy(customInfo, async () => (await import('./custom/policy.js')).customPolicy),
  lazy(credentialsInfo, async () => (await import('./credentials/policy.js')).credentialsPolicy),
  lazy(validateInfo, async () => (await import('./validate/policy.js')).validatePolicy),
  lazy(toPostInfo, async () => (await import('./to-post/policy.js')).toPostPolicy),
  lazy(transformInfo, async () => (await import('./transform/policy.js')).transformPolicy),
  lazy(rewriteUrlsInfo, async () => (await import('./rewrite-urls/policy.js')).rewriteUrlsPolicy),
  lazy(mapErrorsInfo, async () => (await import('./map-errors/policy.js')).mapErrorsPolicy),
  lazy(downloadInfo, async () => (await import('./download/policy.js')).downloadPolicy),
  lazy(authInfo, async () => (await import('./auth/policy.js')).authPolicy),
  lazy(rateLimitInfo, async () => (await import('./rate-limit/policy.js')).rateLimitPolicy),
  lazy(usageInfo, async () => (await import('./usage/policy.js')).usagePolicy),
  lazy(cacheInfo, async () => (await import('./cache/policy.js')).cachePolicy),
  lazy(negotiateInfo, async () => (await import('./negotiate/policy.js')).negotiatePolicy),
] as readonly PolicyDefinition[];
