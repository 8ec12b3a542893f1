import { z } from 'zod';

export const usageSchema = z
  .strictObject({
    anonymous: z.boolean().default(false).describe('Also count anonymous consumers (as one application named `anonymous`).'),
  })
  .describe("Counts each admitted request per application, metric (hits and mapping rules) and period; read it with `tollgate usage APP`.");
