import { z } from 'zod';
import { size } from '../../lib/units.js';

const jsonSchema = (what: string) =>
  z
    .record(z.string(), z.unknown())
    .optional()
    .describe(`JSON Schema (draft 2020-12 subset that ajv 8 supports) for ${what}. Compiled once when the config loads; a schema error is a config error.`);

const errorReply = (what: string) =>
  z
    .strictObject({
      status: z.number().int().min(400).max(599).default(400).describe('Status code of the error.'),
      json: z.unknown().optional().describe('The JSON body to answer, exactly as written (e.g. `{ error: "Invalid date." }`). Default: the gateway\'s error shape with a message naming the parameter.'),
    })
    .optional()
    .describe(what);

const notInFutureSchema = z
  .strictObject({
    year: z.string().describe('Name of the year parameter.'),
    month: z.string().optional().describe('Name of the month parameter (1-12).'),
    day: z.string().optional().describe('Name of the day-of-month parameter (needs `month`).'),
    in: z.enum(['query', 'body']).default('query').describe('Where the parameters are.'),
  })
  .refine((r) => r.day === undefined || r.month !== undefined, { message: 'day needs month' })
  .describe('The date named by these parameters must not be after today (UTC); the current month or year is allowed. Also rejects impossible dates (31 April).');

const ruleSchema = z.strictObject({ notInFuture: notInFutureSchema }).describe('A cross-field rule the JSON Schema cannot say.');

export const validateSchema = z
  .strictObject({
    query: jsonSchema('the query parameters, seen as an object of strings; values are coerced to the types the schema names (`"3"` is an integer 3). Repeated names are arrays. Without `type`, `type: object` is assumed'),
    body: jsonSchema('the request body: a JSON body, or an urlencoded form seen like the query (coerced)'),
    rules: z.array(ruleSchema).default([]).describe('Cross-field rules, checked after the schemas pass.'),
    onError: errorReply('How to answer invalid parameters (type, range, pattern, rules). Default: 400 with the gateway error shape.'),
    onMissing: errorReply('How to answer when a required parameter is missing. Default: like `onError`.'),
    maxBodySize: size('Largest request body read into memory to validate it; larger ones get 413.').prefault('1MiB'),
  })
  .refine((o) => o.query !== undefined || o.body !== undefined || o.rules.length > 0, { message: 'expected query, body or rules' })
  .describe('Checks query and body parameters before anything else runs; the upstream is not called when they fail.');

export type ValidateOptions = z.output<typeof validateSchema>;
export type NotInFuture = z.output<typeof notInFutureSchema>;

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const validateInfo = {
  name: 'validate',
  description: 'Validates query and body parameters (JSON Schema plus cross-field rules) and answers an error without calling the upstream.',
  priority: 800,
  schema: validateSchema,
} as const;
