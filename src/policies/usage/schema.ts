import { z } from 'zod';

export const usageSchema = z
  .strictObject({
    anonymous: z.boolean().default(false).describe('Also count anonymous consumers (as one application named `anonymous`).'),
  })
  .describe("Counts each admitted request per application, metric (hits and mapping rules) and period; read it with `tollgate usage APP`.");

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const usageInfo = {
  name: 'usage',
  description: 'Counts requests per application, metric and period (flushed to the store in batches).',
  priority: 850,
  schema: usageSchema,
} as const;
