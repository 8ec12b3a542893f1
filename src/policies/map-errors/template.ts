/** `$0`…`$9` substitution in a JSON template, compiled once: strings without `$n` are shared as they are. */
type Captures = ReadonlyArray<string | undefined>;
export type Render = (captures: Captures) => unknown;

const REF = /\$(\$|\d)/g;

function compileString(s: string): Render | string {
  if (!/\$[$\d]/.test(s)) return s;
  return (c) => s.replace(REF, (_m, what: string) => (what === '$' ? '$' : (c[Number(what)] ?? '')));
}

export function compileTemplate(v: unknown): Render {
  if (typeof v === 'string') {
    const r = compileString(v);
    return typeof r === 'string' ? () => r : r;
  }
  if (Array.isArray(v)) {
    const items = v.map(compileTemplate);
    return (c) => items.map((f) => f(c));
  }
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).map(([k, x]) => [k, compileTemplate(x)] as const);
    return (c) => Object.fromEntries(entries.map(([k, f]) => [k, f(c)]));
  }
  return () => v;
}

/** `error.message`, `errors[0].detail`, `$.code` -> path segments. */
export function parseJsonPath(path: string): Array<string | number> {
  const p = path.replace(/^\$\.?/, '');
  const out: Array<string | number> = [];
  for (const m of p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  if (!out.length) throw new Error(`map-errors: empty jsonPath ${JSON.stringify(path)}`);
  return out;
}

export function atPath(v: unknown, path: ReadonlyArray<string | number>): unknown {
  let cur = v;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}
