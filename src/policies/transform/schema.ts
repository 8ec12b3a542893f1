import { z } from 'zod';

const part = (what: string) =>
  z
    .strictObject({
      set: z.record(z.string(), z.string()).default({}).describe(`${what} set on the upstream request (replacing the client's of the same name).`),
      remove: z.array(z.string()).default([]).describe(`${what} removed, by name.`),
      rename: z.record(z.string(), z.string()).default({}).describe(`${what} renamed: \`{ old: new }\`; the value is kept as sent.`),
    })
    .prefault({});

export const transformSchema = z
  .strictObject({
    headers: part('Headers').describe('Request header changes, applied in the order rename, remove, set.'),
    query: part('Query parameters').describe("Query parameter changes, applied in the order rename, remove, set; untouched parameters keep the client's exact bytes."),
  })
  .describe('Adds, removes and renames upstream request headers and query parameters. (Path rewrites with :params are the route\'s `rewrite`.)');

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const transformInfo = {
  name: 'transform',
  description: 'Adds, removes and renames upstream request headers and query parameters.',
  priority: 500,
  schema: transformSchema,
} as const;
