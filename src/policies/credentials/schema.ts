import { z } from 'zod';
import { size } from '../../lib/units.js';

const secretValue = (what: string) => z.string().min(1, `${what} must not be empty (is its environment variable set?)`);

export const credentialsSchema = z
  .strictObject({
    headers: z
      .record(z.string(), secretValue('a header value'))
      .default({})
      .describe('Headers set on every upstream request, replacing any the client sent, e.g. `{ x-api-key: "${UPSTREAM_KEY}" }`. Values are secret.'),
    query: z
      .record(z.string(), secretValue('a query value'))
      .default({})
      .describe("Query parameters appended to every upstream request; the client's parameters of the same name are removed, the rest of its query is kept byte for byte. Values are secret."),
    form: z
      .record(z.string(), secretValue('a form value'))
      .default({})
      .describe('Fields added to application/x-www-form-urlencoded request bodies (a body-less POST/PUT/PATCH gets a new form body). The body is read into memory up to `maxFormBody`. Values are secret.'),
    basic: z
      .strictObject({
        username: z.string().describe('User name.'),
        password: secretValue('basic.password').describe('Password. Secret.'),
      })
      .optional()
      .describe('HTTP Basic credentials (RFC 7617) sent as `Authorization: Basic …`.'),
    bearer: secretValue('bearer').optional().describe('A token sent as `Authorization: Bearer <token>` (RFC 6750). Secret.'),
    authorization: z
      .strictObject({
        scheme: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an auth scheme token like Bearer or Discogs').describe('Auth scheme, e.g. `Discogs`, `Token`.'),
        token: secretValue('authorization.token').describe('The credential. Secret.'),
        param: z.string().optional().describe('Send `<scheme> <param>=<token>` (Discogs: `Discogs token=…`) instead of `<scheme> <token>`.'),
      })
      .optional()
      .describe('Any other `Authorization` scheme, for APIs with their own (e.g. `{ scheme: Discogs, param: token, token: "${DISCOGS_TOKEN}" }`).'),
    userAgent: z.string().min(1).optional().describe('A fixed `User-Agent` for upstream requests (some APIs, e.g. Discogs, refuse calls without a descriptive one).'),
    dropClientAuthorization: z
      .boolean()
      .optional()
      .describe("Remove the client's own `Authorization` header before forwarding. Default: true when this policy sets an Authorization (basic, bearer, authorization or headers.authorization), false otherwise."),
    scrubResponseBody: z
      .boolean()
      .default(true)
      .describe(
        'Mask these credentials (every value of 8 characters or more; plain, percent-encoded and JSON-escaped) with `*` in response bodies, as they stream: an upstream that echoes them (a debug page, an echo endpoint) must not hand them to the client. Response header values are always masked. Set false on routes that only stream binary downloads, to save the scan.',
      ),
    maxFormBody: size('Largest urlencoded request body read into memory to add `form` fields; larger ones get 413.').prefault('1MiB'),
  })
  .refine((o) => [o.basic, o.bearer, o.authorization, Object.keys(o.headers).find((h) => h.toLowerCase() === 'authorization')].filter((x) => x !== undefined).length <= 1, {
    message: 'set at most one of basic, bearer, authorization and headers.authorization',
  })
  .describe('Adds upstream credentials the client never sees: headers, query parameters, form fields, Basic, Bearer or another Authorization scheme, and a fixed User-Agent. An upstream that echoes them back gets them masked in the response (see scrubResponseBody).');

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const credentialsInfo = {
  name: 'credentials',
  description: 'Adds upstream credentials (headers, query, form fields, Basic, Bearer, other Authorization schemes) and a fixed User-Agent.',
  priority: 300,
  schema: credentialsSchema,
} as const;
