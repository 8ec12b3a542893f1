/**
 * The built-in policies. Adding one: create src/policies/<name>/{schema.ts,policy.ts,policy.test.ts} and list
 * its definition here; config validation, docs/config.md and `tollgate check` pick it up from this list.
 */
import type { PolicyDefinition } from './types.js';
import { customPolicy } from './custom/policy.js';
import { credentialsPolicy } from './credentials/policy.js';
import { downloadPolicy } from './download/policy.js';
import { mapErrorsPolicy } from './map-errors/policy.js';
import { rewriteUrlsPolicy } from './rewrite-urls/policy.js';
import { toPostPolicy } from './to-post/policy.js';
import { transformPolicy } from './transform/policy.js';
import { validatePolicy } from './validate/policy.js';
import { oauth1Policy } from './oauth1/policy.js';
import { authPolicy } from './auth/policy.js';
import { rateLimitPolicy } from './rate-limit/policy.js';
import { usagePolicy } from './usage/policy.js';
import { cachePolicy } from './cache/policy.js';
import { negotiatePolicy } from './negotiate/policy.js';

export const builtinPolicies: readonly PolicyDefinition[] = [
  oauth1Policy,
  customPolicy,
  credentialsPolicy,
  validatePolicy,
  toPostPolicy,
  transformPolicy,
  rewriteUrlsPolicy,
  mapErrorsPolicy,
  downloadPolicy,
  authPolicy,
  rateLimitPolicy,
  usagePolicy,
  cachePolicy,
  negotiatePolicy,
];
