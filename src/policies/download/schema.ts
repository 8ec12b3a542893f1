import { z } from 'zod';

export const downloadSchema = z
  .strictObject({
    filename: z
      .string()
      .min(1)
      .describe('File name template: `{name}` is a route :param or a query parameter of the client\'s request; `{name:02}` pads it with zeros to 2 characters. E.g. `NetMetr-opendata-dirty-{year}-{month:02}.zip`.'),
    type: z.enum(['attachment', 'inline']).default('attachment').describe('Disposition type (RFC 6266).'),
    status: z
      .array(z.number().int().min(200).max(599))
      .optional()
      .describe('Upstream statuses that get the header. Default: any 2xx.'),
  })
  .describe('Names downloads: sets `Content-Disposition: attachment; filename=…` from a template over the request parameters.');

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const downloadInfo = {
  name: 'download',
  description: 'Sets Content-Disposition (attachment; filename=…) from a template over the request parameters.',
  priority: 200,
  schema: downloadSchema,
} as const;
