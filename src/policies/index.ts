/**
 * The built-in policies. Adding one: create src/policies/<name>/{schema.ts,policy.ts,policy.test.ts} and list
 * its definition here; config validation, docs/config.md and `tollgate check` pick it up from this list.
 */
import type { PolicyDefinition } from './types.js';
import { customPolicy } from './custom/policy.js';
import { oauth1Policy } from './oauth1/policy.js';

export const builtinPolicies: readonly PolicyDefinition[] = [oauth1Policy as PolicyDefinition, customPolicy as PolicyDefinition];

export function findPolicy(name: string): PolicyDefinition | undefined {
  return builtinPolicies.find((p) => p.name === name);
}
