/**
 * Proactive negotiation on the Accept header, RFC 9110 §12.5.1 (https://www.rfc-editor.org/rfc/rfc9110#section-12.5.1):
 * each offer gets the weight of the most specific media range that matches it (`type/sub` with parameters, then
 * `type/sub`, `type/*`, `*\/*`); `q=0` means "not acceptable"; the highest weight wins, ties go to the server's
 * order (JSON first, so the cheap path wins whenever the client does not prefer XML).
 */

export type Offer = 'application/json' | 'application/xml' | 'text/xml';
/** Server preference, for ties. */
const OFFERS: readonly Offer[] = ['application/json', 'application/xml', 'text/xml'];

interface Range {
  type: string;
  sub: string;
  /** How many media type parameters come before q (`charset=utf-8`). */
  params: number;
  charset: string | undefined;
  q: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseRange(part: string): Range | undefined {
  const pieces = part.split(';');
  const mt = pieces[0].trim().toLowerCase();
  const slash = mt.indexOf('/');
  if (slash <= 0) return undefined;
  const type = mt.slice(0, slash);
  const sub = mt.slice(slash + 1);
  if (!TOKEN.test(type) || !TOKEN.test(sub) || (type === '*' && sub !== '*')) return undefined;
  let q = 1;
  let params = 0;
  let charset: string | undefined;
  for (let i = 1; i < pieces.length; i++) {
    const p = pieces[i].trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    const name = (eq === -1 ? p : p.slice(0, eq)).trim().toLowerCase();
    const value = eq === -1 ? '' : p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (name === 'q') {
      // §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); anything else makes the range unusable.
      if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) return undefined;
      q = Number(value);
      // Parameters after q are accept-ext (obsolete), not media type parameters.
      break;
    }
    params++;
    if (name === 'charset') charset = value.toLowerCase();
  }
  return { type, sub, params, charset, q };
}

/** How specific a range is for an offer (higher wins), or -1 when it does not match. */
function specificity(r: Range, offer: Offer): number {
  const slash = offer.indexOf('/');
  const type = offer.slice(0, slash);
  const sub = offer.slice(slash + 1);
  if (r.type === '*') return 0;
  if (r.type !== type) return -1;
  if (r.sub === '*') return 1;
  if (r.sub !== sub) return -1;
  if (r.params === 0) return 2;
  // Our XML is UTF-8 (and JSON is UTF-8 by RFC 8259): a range asking for another charset does not match. Other
  // parameters (`version=2`) are the upstream's business and go to it in the Accept header as sent.
  return r.charset === undefined || r.charset === 'utf-8' || r.charset === 'utf8' ? 3 : -1;
}

/**
 * The offer to answer with, or undefined when the client accepts none of them (406). An absent or empty
 * Accept header means anything (§12.5.1), so JSON.
 */
export function negotiate(accept: string | undefined, offers: readonly Offer[] = OFFERS): Offer | undefined {
  if (accept === undefined) return offers[0];
  if (offers !== OFFERS || accept.length > MEMO_LENGTH) return choose(accept, offers);
  // Clients send few distinct Accept values: remembering them saves the parse (1-4 µs) on almost every request.
  let got = memo.get(accept);
  if (got === undefined) {
    if (memo.size >= MEMO_SIZE) memo.clear();
    got = choose(accept, offers) ?? NONE;
    memo.set(accept, got);
  }
  return got === NONE ? undefined : got;
}

const NONE = '';
const MEMO_SIZE = 256;
/** Longer values (no browser sends one) are parsed each time, so the memo stays small whatever clients send. */
const MEMO_LENGTH = 256;
const memo = new Map<string, Offer | typeof NONE>();

function choose(accept: string, offers: readonly Offer[]): Offer | undefined {
  if (accept.trim() === '') return offers[0];
  const ranges: Range[] = [];
  for (const part of accept.split(',')) {
    if (!part.trim()) continue;
    const r = parseRange(part);
    // A malformed member is ignored rather than failing the request: the rest still says what the client wants.
    if (r) ranges.push(r);
  }
  if (ranges.length === 0) return offers[0];
  let best: Offer | undefined;
  let bestQ = 0;
  for (const offer of offers) {
    let spec = -1;
    let q = 0;
    for (const r of ranges) {
      const s = specificity(r, offer);
      if (s > spec) {
        spec = s;
        q = r.q;
      }
    }
    if (q > bestQ) {
      best = offer;
      bestQ = q;
    }
  }
  return best;
}
