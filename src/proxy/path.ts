/**
 * Request-target checks. Only origin-form targets are accepted (RFC 9112 §3.2.1); anything that could make
 * the gateway reach another host or leave a route's prefix after the upstream decodes it is refused.
 */

const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Returns the decoded path used for routing, or an error code. The raw path is what goes upstream;
 * routing on the decoded form means `/%70rivate/` cannot slip past a `/private/` route.
 */
export function checkPath(raw: string): string /* or an ErrorCode */ {
  if (raw.charCodeAt(0) !== 47 /* / */) return 'TG_BAD_PATH';
  if (raw.charCodeAt(1) === 47 || raw.includes('\\')) return 'TG_BAD_PATH';
  let decoded = raw;
  if (raw.includes('%')) {
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return 'TG_BAD_PATH';
    }
    if (CONTROL.test(decoded) || decoded.includes('\\') || decoded.charCodeAt(1) === 47) return 'TG_BAD_PATH';
  } else if (CONTROL.test(raw)) {
    return 'TG_BAD_PATH';
  }
  if (decoded.includes('/.')) {
    // "..;x" counts as "..": Tomcat and Jetty drop ;params before resolving dot segments.
    for (const seg of decoded.split('/')) if (/^\.\.?(?:;|$)/.test(seg)) return 'TG_BAD_PATH';
  }
  return decoded;
}

/** Length in the raw path that corresponds to the first `decodedLen` characters of its decoded form. */
export function rawPrefixLength(raw: string, decodedLen: number): number {
  let i = 0;
  let d = 0;
  while (i < raw.length && d < decodedLen) {
    if (raw.charCodeAt(i) === 37 /* % */) {
      // One decoded UTF-16 unit may come from several %XX bytes; count whole UTF-8 sequences.
      const first = parseInt(raw.slice(i + 1, i + 3), 16);
      const bytes = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1;
      i += 3 * bytes;
      d += bytes === 4 ? 2 : 1;
    } else {
      i++;
      d++;
    }
  }
  return i;
}

/**
 * The same rules for the path the gateway sends after stripPrefix or a rewrite: a leading `//` left by the
 * cut (`/api///host/x` on a `/api/` route) would be read as another host by many backends (RFC 3986 §4.2
 * network-path reference), so leading slashes collapse to one; what is still refused (an encoded slash in
 * front, dot segments) gives the error code. A rewrite template may carry its own query, which is not checked.
 */
export function checkSentPath(path: string): string /* or an ErrorCode */ {
  let out = path;
  if (out.charCodeAt(1) === 47 /* / */) out = '/' + out.replace(/^\/+/, '');
  const q = out.indexOf('?');
  const checked = checkPath(q === -1 ? out : out.slice(0, q));
  return checked.startsWith('TG_') ? (checked) : out;
}
