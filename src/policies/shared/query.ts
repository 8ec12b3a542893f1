/**
 * Raw query strings (`a=1&b=%20x`) as the proxy keeps them: helpers here decode names to compare them, and
 * leave every part they do not touch byte for byte as the client sent it (no re-encoding).
 * Form semantics (`+` is a space) follow the WHATWG urlencoded parser, which is also what
 * application/x-www-form-urlencoded bodies use: https://url.spec.whatwg.org/#urlencoded-parsing
 */

/** Decodes one name or value; a malformed escape is kept as written rather than failing the request. */
function decodeComponent(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** `name=value` with both parts percent-encoded, ready to append to a raw query or form body. */
export function encodePair(name: string, value: string): string {
  return `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

/** The decoded name of one `name=value` part. */
function partName(part: string): string {
  const eq = part.indexOf('=');
  return decodeComponent(eq === -1 ? part : part.slice(0, eq));
}

/** Decoded pairs in order; empty parts (`a=1&&b=2`) are skipped. */
export function parsePairs(raw: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    out.push(eq === -1 ? [decodeComponent(part), ''] : [decodeComponent(part.slice(0, eq)), decodeComponent(part.slice(eq + 1))]);
  }
  return out;
}

/** Decoded pairs as an object; a repeated name becomes an array of its values in order. */
export function pairsToObject(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of pairs) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

/** Drops every part whose decoded name is in `names`; the other parts keep their raw bytes. */
export function removeParams(raw: string, names: ReadonlySet<string>): string {
  if (!raw) return raw;
  const parts = raw.split('&');
  const kept = parts.filter((p) => p !== '' && !names.has(partName(p)));
  return kept.length === parts.length ? raw : kept.join('&');
}

/** Renames parameters (decoded name -> new name); values keep their raw bytes. */
export function renameParams(raw: string, renames: ReadonlyMap<string, string>): string {
  if (!raw) return raw;
  let changed = false;
  const parts = raw.split('&').map((p) => {
    const to = renames.get(partName(p));
    if (to === undefined) return p;
    changed = true;
    const eq = p.indexOf('=');
    return encodeURIComponent(to) + (eq === -1 ? '' : p.slice(eq));
  });
  return changed ? parts.join('&') : raw;
}

/** Appends already-encoded `name=value` parts. */
export function appendRaw(raw: string, encoded: string): string {
  if (!encoded) return raw;
  return raw ? `${raw}&${encoded}` : encoded;
}
