/**
 * Whether a config needs the consumers part (./consumers.ts), in a module of its own so that a gateway whose
 * config does not need them never loads the store, the directory, the limiters or the usage counter.
 */
import type { Config } from '../config/schema.js';

const CONSUMER_POLICIES = new Set(['auth', 'rate-limit', 'usage']);

/** Whether the config declares consumers or uses a policy that needs them. */
export function usesConsumers(config: Config): boolean {
  if (Object.keys(config.services).length || Object.keys(config.plans).length || config.applications.length || config.users.length || config.oauth2) return true;
  if (config.threescale.enabled) return true;
  const kinds = (ref: unknown): string[] => {
    if (typeof ref === 'string') return config.policies[ref] ? Object.keys(config.policies[ref]) : [ref];
    return ref && typeof ref === 'object' ? Object.keys(ref) : [];
  };
  return config.routes.some((r) => r.policies.some((p) => kinds(p).some((k) => CONSUMER_POLICIES.has(k))));
}
