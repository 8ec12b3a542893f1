/**
 * The URL replacement itself, compiled once per policy: one regular expression over every upstream base
 * URL, working on latin1 text so that every byte that is not a rewritten URL comes back unchanged
 * (whatever the charset, and without parsing or re-serialising JSON: big integers and formatting survive).
 */

export interface Mapping {
  /** Upstream base URL without a trailing slash, e.g. https://api.discogs.com or http://h:1/base. */
  from: string;
  /** Absolute target, or undefined to use the per-request base + `suffix`. */
  absolute: string | undefined;
  /** Path appended to the base (`/image`), '' for the base itself. */
  suffix: string;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A URL ends where a path, query or fragment starts, or at a delimiter: never inside a longer host name. */
const BOUNDARY = `(?=[/?#"'<>\\s\\\\),;]|$)`;
const UNSAFE_TARGET = /["\\\s<>\0-\x1f]/;

export interface Rewriter {
  /** Host names of the upstream URLs: a body containing none of them is left alone without a regex pass. */
  markers: Buffer[];
  /** Rewrites every upstream URL in `text` (latin1) to `base` + mapping; returns the same string when none. */
  rewrite(text: string, base: string): string;
  /** True when the buffer may contain an upstream URL. */
  mayContain(buf: Buffer): boolean;
}

export function normalizeBase(url: string): string {
  return url.replace(/\/+$/, '');
}

export function checkTarget(target: string): void {
  if (UNSAFE_TARGET.test(target)) throw new Error(`rewrite-urls: target ${JSON.stringify(target)} contains quotes, backslashes, spaces or control characters`);
}

export function compileRewriter(mappings: Mapping[]): Rewriter {
  // Longest first, so that http://h/base wins over http://h.
  const sorted = [...mappings].sort((a, b) => b.from.length - a.from.length);
  // In JSON a "/" may be written "\/": accept both spellings of every slash.
  const alternatives = sorted.map((m) => `(${escapeRe(m.from).replace(/\//g, '(?:/|\\\\/)')})`);
  const re = new RegExp(`(?:${alternatives.join('|')})${BOUNDARY}`, 'g');
  const markers = [...new Set(sorted.map((m) => new URL(m.from).host))].map((h) => Buffer.from(h, 'latin1'));
  return {
    markers,
    mayContain(buf) {
      for (const m of markers) if (buf.includes(m)) return true;
      return false;
    },
    rewrite(text, base) {
      re.lastIndex = 0;
      if (!re.test(text)) return text;
      re.lastIndex = 0;
      // One mapping (the common case): a replacement string is much cheaper than a callback per match.
      if (sorted.length === 1) return text.replace(re, (sorted[0].absolute ?? base + sorted[0].suffix).replace(/\$/g, '$$$$'));
      return text.replace(re, (...args: unknown[]) => {
        for (let i = 0; i < sorted.length; i++) {
          if (args[i + 1] !== undefined) {
            const m = sorted[i];
            return m.absolute ?? base + m.suffix;
          }
        }
        return args[0] as string;
      });
    },
  };
}
