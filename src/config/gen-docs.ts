/**
 * Generates docs/config.md from the config schema and the policies' schemas, and docs/errors.md from the
 * error catalogue. `npm run gen` writes them; test/docs.test.ts fails when the committed files drift.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ERRORS } from '../errors.js';
import { builtinPolicies } from '../policies/index.js';
import { configSchema } from './schema.js';

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  'x-kind'?: string;
};

function typeOf(s: JsonSchema): string {
  if (s['x-kind']) return s['x-kind'];
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return [...new Set(alts.map(typeOf))].join(' \\| ');
  if (s.allOf?.length) return typeOf(s.allOf[0]);
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'values'}`;
  if (s.type === 'object' && !s.properties && s.additionalProperties && typeof s.additionalProperties === 'object') return `map of ${typeOf(s.additionalProperties)}`;
  if (s.format === 'uri') return 'URL';
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any');
}

function objectPart(s: JsonSchema): JsonSchema | undefined {
  if (s.properties) return s;
  for (const alt of s.anyOf ?? s.oneOf ?? s.allOf ?? []) {
    const o = objectPart(alt);
    if (o) return o;
  }
  return undefined;
}

function rows(s: JsonSchema, prefix: string, out: string[]): void {
  const obj = objectPart(s);
  if (!obj?.properties) return;
  for (const [key, prop] of Object.entries(obj.properties)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const def = prop.default !== undefined ? `\`${JSON.stringify(prop.default)}\`` : '';
    const desc = (prop.description ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
    out.push(`| \`${path}\` | ${typeOf(prop)} | ${def} | ${desc} |`);
    if (objectPart(prop)) rows(prop, path, out);
    else if (prop.type === 'array' && prop.items && objectPart(prop.items)) rows(prop.items, `${path}[]`, out);
    else if (prop.additionalProperties && typeof prop.additionalProperties === 'object' && objectPart(prop.additionalProperties)) {
      rows(prop.additionalProperties, `${path}.<name>`, out);
    }
  }
}

function table(s: JsonSchema, prefix = ''): string {
  const out = ['| key | type | default | description |', '| --- | --- | --- | --- |'];
  rows(s, prefix, out);
  return out.join('\n');
}

const toJson = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

export function renderConfigDoc(): string {
  const root = toJson(configSchema);
  const parts = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts and src/policies/*/schema.ts by `npm run gen`. Do not edit by hand. -->',
    '',
    root.description ?? '',
    '',
    'Strings may reference the environment: `${NAME}` (an error names the variable when it is unset), `${NAME:-default}`, and files: `${file:/run/secrets/token}` (relative to the config file; a trailing newline is dropped). Values read from files, and from variables whose names look secret (`*_TOKEN`, `*_SECRET`, `*_KEY`, `*PASSWORD*`), are redacted from logs and errors. Write `$${` for a literal `${`.',
    '',
    'Durations are written `250ms`, `5s`, `2m`, `1h`, `7d` (or a number of milliseconds); sizes `512`, `64KiB`, `10MiB` (or a number of bytes).',
    '',
    '## Top level',
    '',
    table(root),
    '',
    '## Policies',
    '',
    'A route lists policies by the name of a block under `policies:` or inline as `{ policy-name: { options } }`. They run in priority order (higher first in the request, last in the response); policies of equal priority keep the order written. `tollgate check` prints each route\'s chain.',
    '',
    'A policy block can depend on the environment, for a config that works in several set-ups without a switch variable. `when: { env: NAME }` (or `env: [NAME, …]`) holds when every variable named is set and not empty. A block under `policies:` or an entry of a route\'s `policies:` may be `oneOf:` a list of alternatives, each a policy with its own `when` (one alternative without `when` is the fallback): exactly one applies, and setting the variables of none, of two, or half of one\'s is one error that names them. A route\'s list entry may also carry `when` alone: it is left out when the condition fails. Blocks not chosen are never substituted or checked, so their `${NAME}` references need no default. Example (examples/discogs.yaml):',
    '',
    '```yaml',
    'policies:',
    '  discogs-auth:',
    '    oneOf:',
    '      - when: { env: DISCOGS_TOKEN }',
    '        credentials: { authorization: { scheme: Discogs, param: token, token: "${DISCOGS_TOKEN}" } }',
    '      - when: { env: [DISCOGS_CONSUMER_KEY, DISCOGS_CONSUMER_SECRET, DISCOGS_ACCESS_TOKEN, DISCOGS_ACCESS_SECRET] }',
    '        oauth1: { consumerKey: "${DISCOGS_CONSUMER_KEY}", consumerSecret: "${DISCOGS_CONSUMER_SECRET}", token: "${DISCOGS_ACCESS_TOKEN}", tokenSecret: "${DISCOGS_ACCESS_SECRET}" }',
    '```',
    '',
  ];
  for (const def of builtinPolicies) {
    const js = toJson(def.schema);
    parts.push(`### \`${def.name}\` (priority ${def.priority})`, '', def.description, '', js.description && js.description !== def.description ? js.description + '\n' : '', table(js), '');
  }
  return parts.join('\n').replace(/\n{3,}/g, '\n\n');
}

export function renderErrorsDoc(): string {
  const lines = [
    '# Errors',
    '',
    '<!-- Generated from src/errors.ts by `npm run gen`. Do not edit by hand. -->',
    '',
    'Every error the gateway itself answers has this JSON shape, and every response carries `x-request-id`:',
    '',
    '```json',
    '{"error": "readable message", "code": "TG_…", "requestId": "…"}',
    '```',
    '',
    '| code | status | message |',
    '| --- | --- | --- |',
    ...Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.message} |`),
    '',
  ];
  return lines.join('\n');
}

export const DOCS = { 'docs/config.md': renderConfigDoc, 'docs/errors.md': renderErrorsDoc } as const;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = new URL('../../', import.meta.url);
  for (const [file, render] of Object.entries(DOCS)) {
    writeFileSync(new URL(file, root), render());
    process.stdout.write(`wrote ${file}\n`);
  }
}
