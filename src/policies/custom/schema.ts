import { z } from 'zod';

export const customSchema = z
  .strictObject({
    module: z.string().min(1).describe('Path to a JavaScript or TypeScript module (relative to the config file) whose default export is a policy definition `{ name, priority, schema?, create(options, deps) }` or a factory `(options, deps) => hooks`. `.ts`/`.mts` modules are loaded as ES modules with their types stripped (no build step, no type-checking).'),
    options: z.record(z.string(), z.unknown()).default({}).describe('Options passed to the module; validated by its `schema` (a zod schema) when it exports one.'),
    priority: z.number().optional().describe("Chain position (see priorities); default: the module's own `priority`, else 500."),
  })
  .describe('A policy of your own, implementing the same interface as the built-in ones (src/policies/types.ts).');

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const customInfo = {
  name: 'custom',
  description: "Runs a policy module of your own (same interface as the built-in policies).",
  priority: 500,
  schema: customSchema,
} as const;
