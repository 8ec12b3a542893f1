/**
 * Loading a config file: parse (YAML or JSON, with line numbers), substitute ${…} references, validate
 * against the schema. Every problem is reported at once with file, line, key path and what was expected.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { resolveChoices } from './choose.js';
import { configSchema } from './schema.js';
import type { Config } from './schema.js';

export { ConfigError, formatProblem } from './problems.js';
export type { ConfigProblem, KeyPath } from './problems.js';
import { ConfigError, formatPath } from './problems.js';
import type { ConfigProblem, KeyPath } from './problems.js';

/**
 * What of an invalid config can still be checked: the config with its broken parts replaced by defaults
 * (a broken route by a placeholder that compile skips, so route indexes stay those of the file), and what
 * was dropped, so compile does not report references to it as unknown. Used by `tollgate check` to report
 * schema, reference and policy option problems in one run.
 */
export interface PartialConfig extends LoadedConfig {
  skipRoutes: ReadonlySet<number>;
  droppedUpstreams: ReadonlySet<string>;
  droppedPolicies: ReadonlySet<string>;
}

/** Where the values of a config came from, so compile-time checks can point at lines too. */
export interface SourceMap {
  file: string;
  lineOf(path: KeyPath): number | undefined;
}

export interface LoadedConfig {
  config: Config;
  source: SourceMap;
  /** Values that came from ${file:…} or from environment variables with secret-looking names. */
  secrets: Set<string>;
}

const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|PASS\b|_KEY|^KEY|CREDENTIAL|PRIVATE/i;
const REF = /\$\$\{|\$\{([^}]*)\}/g;

interface SubstituteCtx {
  env: NodeJS.ProcessEnv;
  baseDir: string;
  secrets: Set<string>;
  problems: { path: KeyPath; message: string }[];
  /** formatPath() of every string that contained a ${…} reference. */
  substituted: Set<string>;
}

function substituteString(s: string, path: KeyPath, ctx: SubstituteCtx): string {
  if (!s.includes('${')) return s;
  return s.replace(REF, (whole, inner: string | undefined) => {
    if (whole === '$${') return '${';
    const ref = inner ?? '';
    if (ref.startsWith('file:')) {
      const file = resolve(ctx.baseDir, ref.slice(5));
      try {
        const v = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
        ctx.secrets.add(v);
        return v;
      } catch (e) {
        ctx.problems.push({ path, message: `cannot read secret file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
        return '';
      }
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(ref);
    if (!m) {
      ctx.problems.push({ path, message: `malformed reference \${${ref}}: expected \${NAME}, \${NAME:-default} or \${file:/path}` });
      return '';
    }
    const [, name, def] = m;
    const v = ctx.env[name];
    if (v === undefined || (v === '' && def !== undefined)) {
      if (def === undefined) {
        ctx.problems.push({ path, message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)` });
        return '';
      }
      return def;
    }
    if (SECRET_NAME.test(name) && v !== '') ctx.secrets.add(v);
    return v;
  });
}

function substituteDeep(v: unknown, path: (string | number)[], ctx: SubstituteCtx): unknown {
  if (typeof v === 'string') {
    if (v.includes('${')) ctx.substituted.add(formatPath(path));
    return substituteString(v, path, ctx);
  }
  if (Array.isArray(v)) return v.map((x, i) => substituteDeep(x, [...path, i], ctx));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = substituteDeep(x, [...path, k], ctx);
    return out;
  }
  return v;
}

/**
 * `port: "${PORT}"` yields a string; where the schema wants a number or boolean at a path that came from a
 * substitution, the string is coerced and validation runs again. Only substituted values are coerced, so a
 * header value "2" written literally stays a string.
 */
function coerceSubstituted(value: Record<string, unknown>, issues: z.core.$ZodIssue[], substituted: Set<string>): boolean {
  let changed = false;
  for (const issue of issues) {
    if (issue.code !== 'invalid_type' || (issue.expected !== 'number' && issue.expected !== 'boolean')) continue;
    const path = issue.path as (string | number)[];
    if (!path.length || !substituted.has(formatPath(path))) continue;
    let parent: unknown = value;
    for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)?.[k];
    const last = path[path.length - 1];
    const cur = (parent as Record<string | number, unknown>)?.[last];
    if (typeof cur !== 'string') continue;
    let next: unknown;
    if (issue.expected === 'number' && /^-?\d+(\.\d+)?$/.test(cur)) next = Number(cur);
    else if (issue.expected === 'boolean' && (cur === 'true' || cur === 'false')) next = cur === 'true';
    else continue;
    (parent as Record<string | number, unknown>)[last] = next;
    changed = true;
  }
  return changed;
}

function makeSourceMap(file: string, doc: Document | undefined, lc: LineCounter | undefined, origin: (p: KeyPath) => KeyPath = (p) => p): SourceMap {
  return {
    file,
    lineOf(resolved) {
      if (!doc || !lc) return undefined;
      const path = origin(resolved);
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true);
        if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
      }
      return undefined;
    },
  };
}

export function zodProblems(error: z.ZodError, source: SourceMap, prefix: KeyPath = []): ConfigProblem[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    // An unknown key is best shown at its own line, not at its parent's.
    const at = issue.code === 'unrecognized_keys' ? [...path, issue.keys[0]] : path;
    return { file: source.file, line: source.lineOf(at), path, message: describeIssue(issue) };
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.code === 'invalid_type') {
    const exp = issue.expected;
    return issue.message.includes('received undefined') ? `required: expected ${exp}` : issue.message.replace(/^Invalid input: /, '');
  }
  return issue.message.replace(/^Invalid input: /, '');
}

/** Parses and validates config text. `file` is used in messages and to resolve ${file:…} paths. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => ({ file, line: e.linePos?.[0]?.line, path: [], message: `not valid YAML/JSON: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}` })),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ file, line: 1, path: [], message: 'expected a mapping of settings (listen, upstreams, routes, …)' }]);
  }
  // `oneOf` / `when` blocks are chosen before substitution: a block not chosen needs none of its variables.
  const chosen = resolveChoices(raw as Record<string, unknown>, env);
  const written = makeSourceMap(file, doc, lc);
  const source = makeSourceMap(file, doc, lc, chosen.origin);
  const ctx: SubstituteCtx = { env, baseDir: dirname(resolve(file)), secrets: new Set(), problems: [], substituted: new Set() };
  const value = substituteDeep(chosen.value, [], ctx) as Record<string, unknown>;
  const problems: ConfigProblem[] = chosen.problems.map((p) => ({ file, line: written.lineOf(p.lineAt ?? p.path), path: p.path, message: p.message }));
  problems.push(...ctx.problems.map((p) => ({ file, line: source.lineOf(p.path), ...p })));
  let parsed = configSchema.safeParse(value);
  if (!parsed.success && coerceSubstituted(value, parsed.error.issues, ctx.substituted)) parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    // A reference that could not be substituted already has its problem; its empty value would only add noise.
    const failed = new Set(ctx.problems.map((p) => formatPath(p.path)));
    problems.push(...zodProblems(parsed.error, source).filter((p) => !failed.has(formatPath(p.path))));
  }
  if (problems.length || !parsed.success) {
    const err = new ConfigError(problems);
    // Blocks whose variables or oneOf choice failed are dropped from the rest too: their problem is reported once.
    const salvaged = salvage(value, parsed.success ? [] : parsed.error.issues, [...ctx.problems, ...chosen.problems].map((p) => p.path));
    if (salvaged) err.partial = { ...salvaged, source, secrets: ctx.secrets };
    throw err;
  }
  return { config: parsed.data, source, secrets: ctx.secrets };
}

const RECORD_SECTIONS = new Set(['upstreams', 'policies']);
/** Compile never reads these: when broken they are dropped whole. */
const CONSUMER_SECTIONS = new Set(['services', 'plans', 'applications', 'users']);
const PLACEHOLDER_ROUTE = { match: { prefix: '/' }, respond: { status: 204 } };

/** An invalid config's valid rest (see PartialConfig), or undefined when even that does not validate. */
function salvage(value: Record<string, unknown>, issues: readonly z.core.$ZodIssue[], failedPaths: readonly KeyPath[]): Omit<PartialConfig, 'source' | 'secrets'> | undefined {
  const skipRoutes = new Set<number>();
  const droppedUpstreams = new Set<string>();
  const droppedPolicies = new Set<string>();
  let current: Record<string, unknown> = structuredClone(value);
  let paths: KeyPath[] = [...issues.map((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys.map((k) => [k]) : [i.path as KeyPath])).flat(), ...failedPaths];
  // Each round drops what the last one complained about; a few rounds settle any config.
  for (let round = 0; round < 4; round++) {
    for (const path of paths) {
      const [section, entry] = path;
      if (typeof section !== 'string') continue;
      if (section === 'routes' && typeof entry === 'number' && Array.isArray(current.routes)) {
        skipRoutes.add(entry);
        (current.routes as unknown[])[entry] = PLACEHOLDER_ROUTE;
      } else if (RECORD_SECTIONS.has(section) && typeof entry === 'string' && current[section] && typeof current[section] === 'object') {
        (section === 'upstreams' ? droppedUpstreams : droppedPolicies).add(entry);
        delete (current[section] as Record<string, unknown>)[entry];
      } else {
        if (section === 'upstreams') Object.keys((current.upstreams as object) ?? {}).forEach((k) => droppedUpstreams.add(k));
        if (section === 'policies') Object.keys((current.policies as object) ?? {}).forEach((k) => droppedPolicies.add(k));
        delete current[section];
      }
    }
    for (const s of CONSUMER_SECTIONS) if (paths.some((p) => p[0] === s)) delete current[s];
    const parsed = configSchema.safeParse(current);
    if (parsed.success) return { config: parsed.data, skipRoutes, droppedUpstreams, droppedPolicies };
    paths = parsed.error.issues.map((i) => i.path as KeyPath);
    current = structuredClone(current);
  }
  return undefined;
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ file, path: [], message: `cannot read config file (${(e as NodeJS.ErrnoException).code ?? String(e)})` }]);
  }
  return parseConfig(text, file, env);
}
