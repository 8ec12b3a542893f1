/**
 * File name templates and the Content-Disposition value (RFC 6266, https://www.rfc-editor.org/rfc/rfc6266;
 * non-ASCII names via filename* per RFC 8187).
 */

type Lookup = (name: string) => string | undefined;

interface Field {
  name: string;
  pad: number;
}

export interface Template {
  /** Parameter names the template reads. */
  names: string[];
  render(lookup: Lookup): string;
}

const FIELD = /\{([A-Za-z_][A-Za-z0-9_.-]*)(?::(0\d+))?\}/g;
/** RFC 9110 tchar: a name made only of these needs no quotes. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Path separators, quotes and control characters never belong in a suggested file name.
const UNSAFE = /[/\\"\0-\x1f\x7f]/g;

export function compileTemplate(template: string): Template {
  const parts: Array<string | Field> = [];
  let last = 0;
  for (const m of template.matchAll(FIELD)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push({ name: m[1], pad: m[2] ? Number(m[2].slice(1)) : 0 });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  const rest = parts.filter((p): p is string => typeof p === 'string').join('');
  if (/[{}]/.test(rest)) throw new Error(`download: cannot read the template ${JSON.stringify(template)}: use {name} or {name:02}`);
  return {
    names: parts.filter((p): p is Field => typeof p !== 'string').map((f) => f.name),
    render(lookup) {
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') out += p;
        else out += (lookup(p.name) ?? '').padStart(p.pad, '0');
      }
      return out;
    },
  };
}

/** The header value for a file name that may contain anything the client sent. */
export function contentDisposition(type: string, filename: string): string {
  const name = filename.replace(UNSAFE, '_');
  if (TOKEN.test(name)) return `${type}; filename=${name}`;
  if (/^[\x20-\x7e]*$/.test(name)) return `${type}; filename="${name}"`;
  const fallback = name.replace(/[^\x20-\x7e]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${type}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
