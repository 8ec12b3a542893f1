import { z } from 'zod';

/**
 * Options of one OAuth2 endpoint. Not written by users: src/config/compile.ts derives them from the
 * top-level `oauth2` block (docs/config.md) and prepends one route per endpoint.
 */
export const oauth2EndpointSchema = z.strictObject({
  endpoint: z.enum(['token', 'revoke', 'introspect']).describe('Which endpoint this route serves.'),
  accessTokenLifetimeMs: z.number().int().min(1000).default(3_600_000).describe('Access token lifetime.'),
  refreshTokenLifetimeMs: z.number().int().min(1000).default(14 * 86_400_000).describe('Refresh token lifetime.'),
  requireHttps: z.boolean().default(true).describe('Refuse plain-HTTP requests from clients that are not on loopback.'),
  failedMax: z.number().int().min(1).default(20).describe('Failed attempts allowed per client IP per window.'),
  failedWindowMs: z.number().int().min(1000).default(60_000).describe('Window of the failed-attempt count (clock-aligned).'),
  realm: z.string().default('tollgate').describe('Realm of the Basic challenge that comes with invalid_client.'),
});

export type OAuth2EndpointOptions = z.output<typeof oauth2EndpointSchema>;
