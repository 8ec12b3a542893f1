/** The `threescale` config block: where the 3scale-compatible Service Management API is served. */
import { z } from 'zod';

export const threescaleSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Serve the 3scale Service Management API (authorize.xml, authrep.xml, oauth_authorize.xml, oauth_authrep.xml, transactions.xml) on the proxy listener, ahead of the routes.'),
    prefix: z
      .string()
      .regex(/^\/([A-Za-z0-9._~-]+\/?)*$/, 'expected a path prefix like / or /3scale')
      .default('/')
      .describe('Path the API is served under: `/` answers at /transactions/authrep.xml (a client\u2019s backend URL is then just http://host:port), `/3scale` at /3scale/transactions/authrep.xml.'),
    providerKey: z
      .string()
      .default('')
      .describe("Account-wide provider_key (3scale's provider key), from the environment: accepted for every service. Per-service keys: `services.<id>.providerKey`. Empty: none."),
    maxTransactions: z.number().int().min(1).max(1000).default(1000).describe('Most transactions one report (POST /transactions.xml) may carry; more get 400 bad_request.'),
  })
  .prefault({})
  .describe('The 3scale-compatible Service Management API (backend URL for 3scale plugins): credentials `service_token` or `provider_key` with `service_id`, applications by app_id + app_key or user_key; one set of counters with the proxy\u2019s rate-limit and usage policies.');

export type ThreescaleConfig = z.output<typeof threescaleSchema>;
