/**
 * Rails-style nested parameters as 3scale plugins send them, in a query string or a form body:
 * `usage[hits]=1`, `transactions[0][usage][hits]=2`, brackets raw or percent-encoded (`usage%5Bhits%5D`),
 * the Ruby client's leading bracket (`[usage][hits]=1`, read as `usage[hits]`), and the Python client's empty
 * `&&` segments. Written by hand: `qs` (a transitive dependency only) differs on the leading bracket and
 * on `+` in encoded keys, and we need a bounded, prototype-free tree with a clear error on conflicts.
 */

export interface ParamTree {
  [name: string]: string | ParamTree;
}

export class BadParams extends Error {}

/** Enough for 1000 report transactions of several fields each. */
const MAX_PARAMS = 20_000;
const MAX_DEPTH = 5;

function decode(s: string): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    throw new BadParams('malformed percent-encoding in the parameters');
  }
}

/** The key's path: `a[b][c]` and `[a][b][c]` are both [a, b, c]. */
function keyPath(key: string): string[] {
  const open = key.indexOf('[');
  if (open === -1) return [key];
  const path: string[] = [];
  let rest = key;
  if (open > 0) {
    path.push(key.slice(0, open));
    rest = key.slice(open);
  }
  const re = /\[([^[\]]*)\]/y;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) {
    path.push(m[1]);
    pos = re.lastIndex;
  }
  // Anything after the last bracket pair that does not parse: the key is taken literally, as Rack does.
  if (pos !== rest.length) return [key];
  if (path.length === 0) return [key];
  return path;
}

/** Adds `text` (a query string or an x-www-form-urlencoded body) to `into`; throws BadParams on bad input. */
export function parseParams(text: string, into: ParamTree = Object.create(null) as ParamTree): ParamTree {
  if (!text) return into;
  const parts = text.split('&');
  if (parts.length > MAX_PARAMS) throw new BadParams(`more than ${MAX_PARAMS} parameters`);
  for (const part of parts) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = decode(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : decode(part.slice(eq + 1));
    if (!key) continue;
    const path = keyPath(key);
    if (path.length > MAX_DEPTH) throw new BadParams(`parameter ${JSON.stringify(key)} is nested too deeply`);
    let node = into;
    for (let i = 0; i < path.length - 1; i++) {
      // `transactions[][app_id]`: an empty index means "the next one".
      const seg = path[i] === '' ? String(Object.keys(node).length) : path[i];
      let next = node[seg];
      if (next === undefined) next = node[seg] = Object.create(null) as ParamTree;
      else if (typeof next === 'string') throw new BadParams(`parameter ${JSON.stringify(path.slice(0, i + 1).join('.'))} is both a value and a group`);
      node = next;
    }
    const last = path[path.length - 1] === '' ? String(Object.keys(node).length) : path[path.length - 1];
    if (typeof node[last] === 'object') throw new BadParams(`parameter ${JSON.stringify([...path.slice(0, -1), last].join('.'))} is both a value and a group`);
    node[last] = value;
  }
  return into;
}

/** A scalar parameter, or undefined (absent, or a group). */
export function str(tree: ParamTree, name: string): string | undefined {
  const v = tree[name];
  return typeof v === 'string' ? v : undefined;
}

/** A group parameter, or undefined; a scalar where a group is expected is bad input. */
export function group(tree: ParamTree, name: string): ParamTree | undefined {
  const v = tree[name];
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    if (v === '') return undefined;
    throw new BadParams(`parameter ${JSON.stringify(name)} must be a group, like ${name}[hits]=1`);
  }
  return v;
}
