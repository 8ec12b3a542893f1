import { z } from 'zod';
import { size } from '../../lib/units.js';

export const rewriteUrlsSchema = z
  .strictObject({
    from: z
      .array(z.url())
      .optional()
      .describe("Upstream base URLs to rewrite to the public URL. Default: the route's upstream URL."),
    to: z
      .union([z.literal('publicUrl'), z.literal('forwarded'), z.url()])
      .default('publicUrl')
      .describe("Where they point instead: `publicUrl` (the config's publicUrl), `forwarded` (per request, from X-Forwarded-Proto/-Host when the peer is a trusted proxy, else the Host header: do not combine with a shared cache), or a fixed URL."),
    map: z
      .array(
        z.strictObject({
          from: z.url().describe('An upstream base URL, e.g. `https://i.discogs.com`.'),
          to: z.string().min(1).describe('Its replacement: a path starting with `/` is appended to the `to` URL (e.g. `/image`), anything else is an absolute URL.'),
        }),
      )
      .default([])
      .describe('More URLs to rewrite, e.g. `[{ from: "https://i.discogs.com", to: /image }]` sends image links through the gateway\'s /image route.'),
    json: z.boolean().default(true).describe('Rewrite JSON bodies (application/json, *+json): URLs inside string values, escaped slashes (`https:\\/\\/…`) included; numbers and formatting are left byte for byte.'),
    text: z.boolean().default(true).describe('Rewrite other text bodies (text/*, XML, JavaScript) by text replacement.'),
    headers: z
      .array(z.string())
      .default(['location', 'content-location', 'link'])
      .describe('Response headers whose URLs are rewritten.'),
    maxBodySize: size('Largest body (as received, and once decompressed) that is rewritten; larger ones pass through unchanged with a warning in the log.').prefault('8MiB'),
    requestIdentity: z
      .boolean()
      .default(true)
      .describe('Ask the upstream for uncompressed bodies (Accept-Encoding: identity). gzip, deflate and br bodies are decoded either way.'),
  })
  .describe("Rewrites the upstream's absolute URLs to the gateway's public URL in JSON and text bodies and in Location, Content-Location and Link headers; binary bodies stream untouched.");

/** What config validation, `tollgate check` and the docs need; the implementation (policy.ts) loads when a route uses it. */
export const rewriteUrlsInfo = {
  name: 'rewrite-urls',
  description: "Rewrites the upstream's absolute URLs to the gateway's public URL in JSON and text bodies and in Location, Content-Location and Link headers.",
  priority: 200,
  schema: rewriteUrlsSchema,
} as const;
