import { z } from 'zod';
import { size } from '../../lib/units.js';

/** ASCII XML names only, so what users configure is a name every XML reader accepts. */
const xmlName = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected an XML element name (letters, digits, `_`, `.`, `-`; not starting with a digit)')
    .refine((s) => !/^xml/i.test(s), 'names starting with "xml" are reserved by XML')
    .describe(what);

export const negotiateSchema = z
  .strictObject({
    response: z
      .boolean()
      .default(true)
      .describe('Answer `Accept: application/xml` (or `text/xml`) with XML converted from the upstream\'s JSON, and refuse media types the route cannot produce with 406 before the upstream is called. JSON clients get the upstream\'s bytes, streamed.'),
    request: z
      .boolean()
      .default(true)
      .describe('Convert request bodies sent as XML, urlencoded forms or multipart forms to JSON before the upstream (JSON passes through untouched); other media types get 415.'),
    root: xmlName('Root element of the XML answers.').default('response'),
    item: xmlName('Element for each value of an array, in answers and in XML request bodies.').default('item'),
    typedValues: z
      .boolean()
      .default(false)
      .describe('XML request bodies: turn text that is a JSON number, `true` or `false` into a JSON number or boolean. Off: every value stays a string (an element marked `nil="true"` is null either way).'),
    files: z
      .enum(['refuse', 'base64'])
      .default('refuse')
      .describe('Multipart file parts: `refuse` answers 415; `base64` sends `{ filename, type, size, base64 }` in place of the file.'),
    priority: z
      .number()
      .optional()
      .describe('Chain position; default 500 (after cache, so a cache keeps one entry per Accept through `Vary: Accept`). Set 850 to convert request bodies before `validate` (800) checks them.'),
    maxBodySize: size('Largest body converted, each way. A larger request body gets 413; a larger JSON answer goes out as JSON, unconverted (logged), since the upstream already acted on the request.').prefault('1MiB'),
  })
  .refine((o) => o.response || o.request, { message: 'negotiate: nothing to do (response and request are both false)' })
  .describe('Content negotiation for JSON upstreams: XML answers for clients that ask with Accept, and XML or form request bodies turned into JSON. Priority: with the request transforms.');

export type NegotiateOptions = z.output<typeof negotiateSchema>;

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const negotiateInfo = {
  name: 'negotiate',
  description: 'XML answers for clients that ask with Accept (406 for media types the route cannot produce), and XML or form request bodies converted to JSON.',
  priority: 500,
  schema: negotiateSchema,
} as const;
