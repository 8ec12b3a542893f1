import { z } from 'zod';

const mapErrorRuleSchema = z
  .strictObject({
    when: z
      .strictObject({
        status: z
          .union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)])
          .optional()
          .describe('Upstream status(es) this rule applies to. Default: any.'),
        bodyMatches: z.string().optional().describe('Regular expression (JavaScript syntax) tested on the first `peekBytes` of the body, or on the `jsonPath` value; its groups are `$1`, `$2`… in `respond`. Trailing whitespace of a body that fits is ignored, so `^ERROR: (.+)$` matches "ERROR: x\\n".'),
        flags: z.string().regex(/^[imsu]*$/).default('').describe('Regular expression flags (i, m, s, u).'),
        jsonPath: z.string().optional().describe('Dot path into a JSON body that fits in `peekBytes` (`error.message`, `errors[0].detail`, `$.code`); the rule matches when the value exists (and matches `bodyMatches`, if set). `$1` is the value when there is no regex.'),
      })
      .describe('What an upstream response must look like to be replaced.'),
    respond: z
      .strictObject({
        status: z.number().int().min(100).max(599).describe('Status of the answer.'),
        json: z.unknown().optional().describe('JSON body, e.g. `{ error: "$1" }`; `$0`…`$9` in its strings are replaced by the regex groups (`$0` the whole match). Without `json` or `body` the body is `null`.'),
        body: z.string().optional().describe('Text body instead of `json` (same `$n` substitution).'),
        headers: z.record(z.string(), z.string()).default({}).describe('Extra response headers.'),
      })
      .describe('The answer that replaces the upstream response.'),
  })
  .describe('One mapping: when the upstream answers like this, answer that instead.');

export const mapErrorsSchema = z
  .union([
    z.array(mapErrorRuleSchema).min(1),
    z.strictObject({
      rules: z.array(mapErrorRuleSchema).min(1).describe('Mappings, tried in order; the first match wins.'),
      peekBytes: z.number().int().min(16).max(1024 * 1024).default(4096).describe('How many bytes at the start of the body are looked at. Responses no rule matches stream on unchanged.'),
    }),
  ])
  .describe('Turns upstream error responses (status plus a body pattern) into a chosen status and JSON error. A list of rules, or `{ rules, peekBytes }`.');

export type MapErrorsOptions = z.output<typeof mapErrorsSchema>;
export type MapErrorRule = z.output<typeof mapErrorRuleSchema>;

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const mapErrorsInfo = {
  name: 'map-errors',
  description: 'Replaces upstream responses that match a status and body pattern with a chosen status and JSON error; others stream on unchanged.',
  priority: 200,
  schema: mapErrorsSchema,
} as const;
