/**
 * The store's narrow interfaces as values: one record per interface naming every method (the compiler
 * checks each record against its interface, so a method added there must be added here), and `narrow()`,
 * which hands a part of the store out as an object that has only that interface's methods. The gateway
 * gives the data plane these objects, so a policy holding the lookup cannot write, and the conformance
 * suite runs the data plane's calls through them.
 */
import type { ConsumerLookup, LimitCounterJournal, OAuthTokenStore, UsageSink } from './types.js';

/** Every method of `I`, once. */
export type MethodNames<I> = { readonly [K in keyof I]: true };

export const CONSUMER_LOOKUP: MethodNames<ConsumerLookup> = {
  findCredential: true,
  findOAuthToken: true,
  verifyUser: true,
  getApplication: true,
  getPlan: true,
  getService: true,
  listMetrics: true,
  listMappingRules: true,
  verifyServiceToken: true,
  version: true,
  changesSince: true,
};

export const USAGE_SINK: MethodNames<UsageSink> = { recordUsage: true };

export const LIMIT_COUNTER_JOURNAL: MethodNames<LimitCounterJournal> = { addLimitCounters: true, loadLimitCounters: true, pruneLimitCounters: true };

export const OAUTH_TOKEN_STORE: MethodNames<OAuthTokenStore> = {
  findCredential: true,
  verifyUser: true,
  findOAuthToken: true,
  saveOAuthToken: true,
  revokeOAuthToken: true,
  pruneOAuthTokens: true,
};

/** An object with only `methods` of `impl`, bound to it. */
export function narrow<I extends object>(impl: I, methods: MethodNames<I>): I {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(methods)) {
    const fn = (impl as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new TypeError(`the store has no method ${name}`);
    out[name] = (fn as (...args: unknown[]) => unknown).bind(impl);
  }
  return Object.freeze(out) as I;
}
