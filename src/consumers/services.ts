/**
 * The consumer services the gateway builds (src/gateway/consumers.ts) and hands to the auth, rate-limit,
 * usage, OAuth2 and 3scale policies. Lives beside what it lists, so `policies/types.ts` can name it without
 * importing a policy module (which imports `policies/types.ts` back).
 */
import type { ConsumerDirectory } from './directory.js';
import type { LimiterStore } from './limiter.js';
import type { UsageCounter } from './usage.js';
import type { OAuthTokenStore } from '../store/types.js';

export interface ConsumerServices {
  directory: ConsumerDirectory;
  limiter: LimiterStore;
  usage: UsageCounter;
  /** What the OAuth2 token, revocation and introspection endpoints read and write (set when the config has `oauth2`). */
  oauth?: OAuthServerStore;
}

/** The store as the OAuth2 endpoints see it: credentials and users to check, tokens to issue and revoke. */
export type OAuthServerStore = OAuthTokenStore;
