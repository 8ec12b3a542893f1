import { z } from 'zod';
import { size } from '../../lib/units.js';
import { SIGNATURE_METHODS } from './sign.js';

const credential = (what: string) => z.string().min(1, `${what} must not be empty (is its environment variable set?)`);

export const oauth1Schema = z
  .object({
    consumerKey: credential('consumerKey').describe("The application's consumer key, issued by the provider."),
    consumerSecret: credential('consumerSecret').describe("The application's consumer secret. Secret: take it from the environment."),
    token: credential('token').describe('The access token (token credentials), e.g. from `tollgate oauth1 setup`. Secret.'),
    tokenSecret: credential('tokenSecret').describe('The access token secret that goes with `token`. Secret.'),
    signature: z
      .enum(SIGNATURE_METHODS)
      .default('HMAC-SHA1')
      .describe('Signature method (RFC 5849 §3.4). PLAINTEXT sends the secrets themselves: use it only over HTTPS.'),
    realm: z.string().optional().describe('Optional realm sent in the Authorization header (not signed).'),
    scrubResponseBody: z
      .boolean()
      .default(true)
      .describe('Mask the token and secrets (8 characters or more; plain, percent-encoded, JSON-escaped) with `*` in response bodies as they stream; response header values are always masked. Set false on routes that only stream binary downloads.'),
    maxFormBody: size(
      "Largest application/x-www-form-urlencoded request body read into memory to sign its parameters (RFC 5849 §3.4.1.3.1); larger ones get 413. Other bodies stream unsigned, as the RFC says.",
    ).prefault('1MiB'),
  })
  .strict()
  .describe('Signs each upstream request with OAuth 1.0a (RFC 5849), as Discogs and similar APIs expect.');

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const oauth1Info = {
  name: 'oauth1',
  description: 'Signs upstream requests with OAuth 1.0a (RFC 5849) using fixed token credentials.',
  priority: 300,
  schema: oauth1Schema,
} as const;
