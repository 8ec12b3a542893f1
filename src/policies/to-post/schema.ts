import { z } from 'zod';

export const toPostSchema = z
  .strictObject({
    body: z
      .enum(['form', 'json'])
      .default('form')
      .describe('How the query becomes the body: `form` (application/x-www-form-urlencoded, the query bytes as sent) or `json` (an object of strings; a repeated name becomes an array).'),
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST').describe('The method sent upstream.'),
    from: z
      .array(z.enum(['GET', 'HEAD', 'DELETE', 'OPTIONS']))
      .default(['GET'])
      .describe('Client methods that are converted; others are forwarded as they are. Add HEAD for clients that probe with `curl -I` (the upstream then sends the whole body, which the gateway drops).'),
  })
  .describe("Turns a client's GET with a query into a POST with the parameters in the body, for backends that only take forms.");

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const toPostInfo = {
  name: 'to-post',
  description: 'Converts GET + query into POST (or PUT/PATCH) with the parameters as a urlencoded or JSON body.',
  priority: 500,
  schema: toPostSchema,
} as const;
