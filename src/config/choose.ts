/**
 * Choosing policy blocks by environment, resolved on the parsed file before ${…} substitution, so a block
 * that is not chosen is never substituted, validated or used:
 *
 *   policies:
 *     discogs-auth:
 *       oneOf:                                   # exactly one alternative must apply
 *         - when: { env: DISCOGS_TOKEN }
 *           credentials: { authorization: { scheme: Discogs, param: token, token: "${DISCOGS_TOKEN}" } }
 *         - when: { env: [DISCOGS_CONSUMER_KEY, DISCOGS_CONSUMER_SECRET, DISCOGS_ACCESS_TOKEN, DISCOGS_ACCESS_SECRET] }
 *           oauth1: { … }
 *   routes:
 *     - policies:
 *         - discogs-auth
 *         - when: { env: CACHE_DIR }            # a route's list entry is dropped when its condition fails
 *           cache: { store: disk, dir: "${CACHE_DIR}" }
 *
 * `when: { env: NAME }` (or a list of names) holds when every variable is set and not empty. In `oneOf` an
 * alternative without `when` is the fallback; "both sets given" is an error as much as "none given", so a
 * half-configured environment is named instead of silently picking one.
 */
import type { KeyPath } from './load.js';

const ONE_OF = 'oneOf';
const WHEN = 'when';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface ChoiceProblem {
  /** Path in the file as written. */
  path: KeyPath;
  message: string;
  /** Where to take the line from, when not `path` (the `oneOf:` key's line rather than its list's). */
  lineAt?: KeyPath;
}

export interface Choices {
  /** The tree with every choice resolved. */
  value: Record<string, unknown>;
  problems: ChoiceProblem[];
  /** Maps a path of the resolved tree back to where it is written in the file (for line numbers). */
  origin: (path: KeyPath) => KeyPath;
}

type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Condition {
  names: string[];
}

export function resolveChoices(raw: Mapping, env: NodeJS.ProcessEnv): Choices {
  const problems: ChoiceProblem[] = [];
  // Resolved path prefix -> written path prefix; the longest matching prefix wins.
  const moves: Array<{ to: KeyPath; from: KeyPath }> = [];
  const isSet = (name: string) => (env[name] ?? '') !== '';

  function condition(when: unknown, path: KeyPath): Condition | undefined {
    const env = isMapping(when) ? when.env : undefined;
    const names = typeof env === 'string' ? [env] : Array.isArray(env) ? env : undefined;
    const extra = isMapping(when) ? Object.keys(when).filter((k) => k !== 'env') : [];
    if (!names || !names.length || extra.length || !names.every((n) => typeof n === 'string' && ENV_NAME.test(n))) {
      problems.push({ path, message: 'expected { env: NAME } or { env: [NAME, …] } (environment variable names; the condition holds when all are set and not empty)' });
      return undefined;
    }
    return { names: names as string[] };
  }

  /** The block a `{ oneOf: [...] }` stands for, or undefined after recording why none could be chosen. */
  function choose(block: Mapping, path: KeyPath): { block: Mapping; from: KeyPath } | undefined {
    const alts = block[ONE_OF];
    const at = [...path, ONE_OF];
    if (Object.keys(block).length !== 1) {
      problems.push({ path, message: `expected ${ONE_OF} alone in this block (each alternative holds its own policy), got ${Object.keys(block).join(', ')}` });
      return undefined;
    }
    if (!Array.isArray(alts) || alts.length < 2 || !alts.every(isMapping)) {
      problems.push({ path: at, message: `expected a list of at least two alternatives, each { ${WHEN}: { env: NAME }, <policy>: { options } }` });
      return undefined;
    }
    const conds: Array<Condition | null> = [];
    let fallback = -1;
    for (let k = 0; k < alts.length; k++) {
      const alt = alts[k];
      if (!(WHEN in alt)) {
        if (fallback !== -1) {
          problems.push({ path: [...at, k], message: `only one alternative may go without "${WHEN}" (the fallback); alternative ${fallback} already does` });
          return undefined;
        }
        fallback = k;
        conds.push(null);
        continue;
      }
      const c = condition(alt[WHEN], [...at, k, WHEN]);
      if (!c) return undefined;
      conds.push(c);
    }
    const applies = conds.flatMap((c, k) => (c && c.names.every(isSet) ? [k] : []));
    const touched = conds.flatMap((c, k) => (c && c.names.some(isSet) ? [k] : []));
    const describe = (k: number) => {
      const c = conds[k];
      return c ? (c.names.length === 1 ? c.names[0] : `all of ${c.names.join(', ')}`) : '(nothing: the fallback)';
    };
    const choices = conds.flatMap((c, k) => (c ? [describe(k)] : [])).join(', or ');
    if (applies.length === 1 && touched.length === 1) return { block: alts[applies[0]], from: [...at, applies[0]] };
    if (touched.length > 1) {
      const set = touched.map((k) => `(${conds[k]!.names.filter(isSet).join(', ')})`).join(' and ');
      problems.push({ path: at, lineAt: path, message: `variables of more than one alternative are set, ${set}: set only ${choices}` });
      return undefined;
    }
    if (touched.length === 0 && fallback !== -1) return { block: alts[fallback], from: [...at, fallback] };
    const partial = touched.length === 1 ? conds[touched[0]]!.names : [];
    const missing = partial.filter((n) => !isSet(n));
    problems.push({
      path: at,
      lineAt: path,
      message: `no alternative applies: set ${choices}${missing.length ? ` (${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set)` : ''}`,
    });
    return undefined;
  }

  const strip = (b: Mapping): Mapping => Object.fromEntries(Object.entries(b).filter(([k]) => k !== WHEN));

  const value: Mapping = { ...raw };
  if (isMapping(raw.policies)) {
    const named: Mapping = {};
    for (const [name, block] of Object.entries(raw.policies)) {
      if (isMapping(block) && ONE_OF in block) {
        const c = choose(block, ['policies', name]);
        // An unresolved block is left out: its problem is reported, and routes naming it are not told twice.
        named[name] = c ? strip(c.block) : {};
        if (c) moves.push({ to: ['policies', name], from: c.from });
      } else named[name] = block;
    }
    value.policies = named;
  }
  if (Array.isArray(raw.routes)) {
    value.routes = (raw.routes as unknown[]).map((route, i) => {
      if (!isMapping(route) || !Array.isArray(route.policies)) return route;
      const kept: unknown[] = [];
      (route.policies as unknown[]).forEach((entry, j) => {
        const path: KeyPath = ['routes', i, 'policies', j];
        let block = entry;
        let from = path;
        if (isMapping(entry) && ONE_OF in entry) {
          const c = choose(entry, path);
          if (!c) return;
          block = c.block;
          from = c.from;
        }
        if (isMapping(block) && WHEN in block) {
          const c = condition(block[WHEN], [...from, WHEN]);
          if (!c || !c.names.every(isSet)) return;
          block = strip(block);
        }
        if (from !== path || kept.length !== j) moves.push({ to: ['routes', i, 'policies', kept.length], from });
        kept.push(block);
      });
      return { ...route, policies: kept };
    });
  }

  return {
    value,
    problems,
    origin: (path) => {
      let best: { to: KeyPath; from: KeyPath } | undefined;
      for (const m of moves) {
        if (m.to.length <= path.length && m.to.every((p, n) => path[n] === p) && (!best || m.to.length > best.to.length)) best = m;
      }
      return best ? [...best.from, ...path.slice(best.to.length)] : path;
    },
  };
}
