/**
 * Keeping injected upstream credentials out of responses. An upstream may reflect what it received (an echo
 * endpoint, a debug page, a `Location: /x?token=…` redirect, Set-Cookie, WWW-Authenticate): every byte of
 * every known spelling of a secret is masked with `*` before the client gets it.
 *
 * Masking keeps the length, so Content-Length, byte ranges and the body's streaming stay as they were, and
 * overlapping secrets are masked as the union of what they cover (no tail of a longer secret survives
 * because a shorter one matched first). Bodies are scanned as they stream; between chunks at most
 * (longest spelling − 1) bytes are held back, and only when the chunk ends with what may be the start of a
 * secret: never buffered whole.
 */
import { Readable, pipeline } from 'node:stream';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { GatewayError } from '../../errors.js';
import type { BodyFilter, Exchange, Headers, PolicyHooks, UpstreamResponse } from '../types.js';

/** Shorter values are not masked: they would hit ordinary text too often (documented with the policies). */
export const MIN_SCRUB_LENGTH = 8;
const MASK = 0x2a; // '*'
const MASK_CHAR = '*';

/** Streaming decoders for the content codings we can undo (RFC 9110 §8.4.1). */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => createGunzip(),
  'x-gzip': () => createGunzip(),
  deflate: () => createInflate(),
  br: () => createBrotliDecompress(),
};

const hex = (c: string) => '%' + c.charCodeAt(0).toString(16).toUpperCase();

/**
 * The spellings a secret may take on its way back: as sent, percent-encoded (encodeURIComponent, the strict
 * RFC 3986 form OAuth uses, `+` for spaces, lower-case hex), and JSON-escaped (with `\/` and `\uXXXX` as
 * PHP and Python write them).
 */
export function secretForms(value: string): string[] {
  const uri = encodeURIComponent(value);
  const strict = uri.replace(/[!'()*]/g, hex);
  const json = JSON.stringify(value).slice(1, -1);
  const ascii = json.replace(/[^\x00-\x7f]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const slash = (j: string) => j.replace(/\//g, '\\/');
  const forms = [value, uri, strict, uri.replace(/%20/g, '+'), uri.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), json, slash(json), ascii, slash(ascii)];
  return [...new Set(forms)];
}

export class SecretScrubber {
  /** Every spelling of every secret, as bytes (UTF-8). */
  private readonly needles: Buffer[];
  /** The same spellings as node gives header values (latin1 view of the bytes). */
  private readonly texts: string[];
  /** Bytes held back between chunks: a spelling can start in them and end in the next chunk. */
  readonly window: number;

  /** Values under MIN_SCRUB_LENGTH are skipped; check `empty` before using the scrubber. */
  constructor(values: Iterable<string>) {
    const forms = new Set<string>();
    for (const v of values) if (v.length >= MIN_SCRUB_LENGTH) for (const f of secretForms(v)) forms.add(f);
    this.needles = [...forms].map((f) => Buffer.from(f, 'utf8'));
    this.texts = this.needles.map((b) => b.toString('latin1'));
    this.window = Math.max(0, ...this.needles.map((n) => n.length)) - 1;
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  /** Masks the secrets in a latin1 string (a header value); returns the same string when there are none. */
  maskText(s: string): string {
    let out: string[] | undefined;
    for (const t of this.texts) {
      for (let i = s.indexOf(t); i !== -1; i = s.indexOf(t, i + 1)) {
        out ??= [...s];
        for (let j = i; j < i + t.length; j++) out[j] = MASK_CHAR;
      }
    }
    return out ? out.join('') : s;
  }

  /** Masks every response header value in place (the headers stay: a redirect still redirects). */
  maskHeaders(h: Headers): void {
    for (const name in h) {
      const v = h[name];
      if (Array.isArray(v)) h[name] = v.map((x) => this.maskText(x));
      else if (v !== undefined) h[name] = this.maskText(v);
    }
  }

  /** Masks the values of a flat [name, value, …] header list in place. */
  maskFlat(flat: string[]): void {
    for (let i = 1; i < flat.length; i += 2) flat[i] = this.maskText(flat[i]);
  }

  /**
   * Masks the secrets that start before `limit` in `buf`, plus its first `coveredHead` bytes (the rest of a
   * secret found in the previous chunk). Returns the first `limit` bytes, masked (a copy only when something
   * was masked), and how far past `limit` the last secret found reaches.
   */
  private scan(buf: Buffer, limit: number, coveredHead: number): { out: Buffer; reach: number } {
    let out: Buffer | undefined;
    let reach = 0;
    const cover = (from: number, to: number) => {
      out ??= Buffer.from(buf.subarray(0, limit));
      out.fill(MASK, from, Math.min(to, limit));
      if (to > reach) reach = to;
    };
    if (coveredHead > 0) cover(0, coveredHead);
    for (const n of this.needles) {
      for (let i = buf.indexOf(n); i !== -1 && i < limit; i = buf.indexOf(n, i + 1)) cover(i, i + n.length);
    }
    return { out: out ?? (limit === buf.length ? buf : buf.subarray(0, limit)), reach: Math.max(0, reach - limit) };
  }

  /** Masks a whole buffer at once. */
  maskBuffer(buf: Buffer): Buffer {
    return this.scan(buf, buf.length, 0).out;
  }

  /**
   * How many bytes at the end of `buf` could be the start of a secret that the next chunk completes: the
   * longest suffix that is a proper prefix of some spelling (at most `window`). Usually 0, so a chunk is
   * passed on whole and nothing waits for the next one.
   */
  private heldBack(buf: Buffer): number {
    let from = buf.length;
    for (const n of this.needles) {
      // Only where the spelling's first byte occurs (a native memchr), not at every position of the tail.
      for (let p = buf.indexOf(n[0], Math.max(0, buf.length - n.length + 1)); p !== -1 && p < from; p = buf.indexOf(n[0], p + 1)) {
        if (n.compare(buf, p, buf.length, 0, buf.length - p) === 0) {
          from = p;
          break;
        }
      }
    }
    return buf.length - from;
  }

  /** A body's chunks with the secrets masked, holding back at most `window` bytes between chunks. */
  filter(): BodyFilter {
    let carry: Buffer | undefined;
    let coveredHead = 0;
    return {
      chunk: (chunk) => {
        const buf = carry ? Buffer.concat([carry, chunk], carry.length + chunk.length) : chunk;
        const limit = buf.length - this.heldBack(buf);
        const { out, reach } = this.scan(buf, limit, coveredHead);
        coveredHead = reach;
        // A copy: the held-back tail must not pin (or alias) the whole chunk.
        carry = limit < buf.length ? Buffer.from(buf.subarray(limit)) : undefined;
        return out;
      },
      end: () => {
        const tail = carry && this.scan(carry, carry.length, coveredHead).out;
        carry = undefined;
        return tail;
      },
    };
  }

  /**
   * `src` with the secrets masked, holding back at most `window` bytes between chunks. A plain Readable
   * fed from `src`'s data events, with backpressure: lighter on the hot path than a Transform.
   */
  scrub(src: Readable): Readable {
    const filter = this.filter();
    const out = new Readable({
      // Upstream reads come in up to 64 KiB; a smaller mark would pause the source for every one of them.
      highWaterMark: 64 * 1024,
      read() {
        src.resume();
      },
      destroy(err, cb) {
        if (!src.readableEnded) src.destroy();
        cb(err);
      },
    });
    src.on('data', (chunk: Buffer) => {
      const masked = filter.chunk(chunk);
      if (masked.length && !out.push(masked)) src.pause();
    });
    src.once('end', () => {
      const tail = filter.end();
      if (tail) out.push(tail);
      out.push(null);
    });
    src.once('error', (e) => out.destroy(e));
    return out;
  }
}

/**
 * Masks the secrets in a response's headers and (unless `body` is false) its body. An encoded body is
 * decoded on the way (the policies ask for identity, so this is the exception); one in a coding we cannot
 * decode is refused rather than passed unread.
 */
function scrubResponse(s: SecretScrubber, res: UpstreamResponse, body: boolean): UpstreamResponse {
  s.maskHeaders(res.headers);
  const src = res.body;
  if (!body || !src) return res;
  const ce = res.headers['content-encoding'];
  const coding = (Array.isArray(ce) ? ce.join(',') : (ce ?? '')).trim().toLowerCase();
  if (!coding || coding === 'identity') return { ...res, body: s.scrub(src) };
  const decoder = DECODERS[coding];
  if (!decoder) {
    src.destroy();
    throw new GatewayError('TG_UPSTREAM_ERROR', 'The upstream answered in a content coding the gateway cannot check for credentials.');
  }
  const headers: Headers = { ...res.headers };
  delete headers['content-encoding'];
  delete headers['content-length'];
  delete headers['content-md5'];
  // Other bytes than the upstream's: a strong validator no longer names them (RFC 9110 §8.8.1).
  const etag = headers['etag'];
  if (typeof etag === 'string' && !etag.startsWith('W/')) headers['etag'] = `W/${etag}`;
  return { status: res.status, headers, body: s.scrub(pipeline(src, decoder(), () => undefined)) };
}

const NO_BODY = (method: string, status: number) => method === 'HEAD' || status === 204 || status === 304 || status < 200;

/**
 * The response hooks of a policy that injects credentials: `onResponse` for the stream path and policy
 * replies, and `onResponseHead` so that a route whose only response work is masking keeps the proxy's direct
 * path (masking keeps lengths: headers are edited in place and chunks filtered as they are written). A
 * compressed body needs decoding, which only the stream path does.
 */
export function scrubHooks(s: SecretScrubber, body: boolean): Pick<PolicyHooks, 'onResponse' | 'onResponseHead'> {
  return {
    onResponse: (_ex: Exchange, res: UpstreamResponse) => scrubResponse(s, res, body),
    onResponseHead(ex, status, flat) {
      const scan = body && !NO_BODY(ex.method, status);
      if (scan) {
        for (let i = 0; i < flat.length; i += 2) {
          if (flat[i] === 'content-encoding' && flat[i + 1].trim().toLowerCase() !== 'identity') return 'stream';
        }
      }
      s.maskFlat(flat);
      return scan ? s.filter() : undefined;
    },
  };
}
