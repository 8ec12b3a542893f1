import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import type { InputType, ZlibOptions, BrotliOptions } from 'node:zlib';
import { definePolicy, stateKey } from '../types.js';
import type { Exchange, Headers, UpstreamResponse } from '../types.js';
import { bufferStream, isJsonType, mediaType, peek, replay } from '../shared/body.js';
import { checkTarget, compileRewriter, normalizeBase } from './rewriter.js';
import type { Mapping } from './rewriter.js';
import { rewriteUrlsInfo } from './schema.js';

type Decoder = (buf: InputType, opts: ZlibOptions & BrotliOptions) => Promise<Buffer>;
/** Content codings we can undo (RFC 9110 §8.4.1); anything else passes through untouched. */
const DECODERS: Record<string, Decoder> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};
/** The public base URL this request's answer is rewritten to. */
const STATE = stateKey<string>('rewrite-urls');

function isTextType(type: string): boolean {
  return type.startsWith('text/') || type === 'application/xml' || type.endsWith('+xml') || type === 'application/javascript';
}

function first(v: Headers[string] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export const rewriteUrlsPolicy = definePolicy({
  ...rewriteUrlsInfo,
  create(o, deps) {
    const froms = o.from ?? (deps.upstreamUrl ? [deps.upstreamUrl] : []);
    if (!froms.length) throw new Error('rewrite-urls: the route has no upstream; set `from`');
    const staticBase = o.to === 'forwarded' ? undefined : normalizeBase(o.to === 'publicUrl' ? deps.publicUrl : o.to);
    if (staticBase) checkTarget(staticBase);
    const mappings: Mapping[] = froms.map((f) => ({ from: normalizeBase(f), absolute: undefined, suffix: '' }));
    for (const { from, to: target } of o.map) {
      checkTarget(target);
      const relative = target.startsWith('/');
      mappings.push({ from: normalizeBase(from), absolute: relative ? undefined : normalizeBase(target), suffix: relative ? normalizeBase(target) : '' });
    }
    // A configurable origin and the service's own are often the same URL (`${API:-https://api…}` next to
    // `https://api…`): the first mapping of an origin wins, and one left alone keeps the one-mapping fast path.
    const rw = compileRewriter(mappings.filter((m, i) => mappings.findIndex((x) => x.from === m.from) === i));
    const headerNames = o.headers.map((h) => h.toLowerCase());
    const max = o.maxBodySize;
    const { log } = deps;

    function baseFor(ex: Exchange): string {
      return staticBase ?? ex.get(STATE)!;
    }

    function rewriteHeaders(res: UpstreamResponse, base: string): void {
      for (const name of headerNames) {
        const v = res.headers[name];
        if (v === undefined) continue;
        res.headers[name] = Array.isArray(v) ? v.map((x) => rw.rewrite(x, base)) : rw.rewrite(v, base);
      }
    }

    async function rewriteBody(ex: Exchange, res: UpstreamResponse, body: NonNullable<UpstreamResponse['body']>, base: string): Promise<UpstreamResponse> {
      const declared = Number(first(res.headers['content-length']) ?? NaN);
      if (declared > max) {
        log.warn({ requestId: ex.requestId, size: declared, limit: max }, 'rewrite-urls: body larger than maxBodySize passed through without rewriting');
        return res;
      }
      const got = await peek(body, max + 1);
      if (!got.ended) {
        log.warn({ requestId: ex.requestId, limit: max }, 'rewrite-urls: body larger than maxBodySize passed through without rewriting');
        return { ...res, body: replay(got.head, body) };
      }
      const raw = got.head;
      const coding = (first(res.headers['content-encoding']) ?? '').trim().toLowerCase();
      let plain = raw;
      if (coding && coding !== 'identity') {
        try {
          plain = await DECODERS[coding](raw, { maxOutputLength: max });
        } catch (e) {
          log.warn({ requestId: ex.requestId, coding, err: (e as Error).message }, 'rewrite-urls: could not decode the body (or it decodes to more than maxBodySize); passed through without rewriting');
          return { ...res, body: bufferStream(raw) };
        }
      }
      if (!rw.mayContain(plain)) return { ...res, body: bufferStream(raw) };
      const text = plain.toString('latin1');
      const out = rw.rewrite(text, base);
      if (out === text) return { ...res, body: bufferStream(raw) };
      const buf = Buffer.from(out, 'latin1');
      const headers: Headers = { ...res.headers, 'content-length': String(buf.length) };
      delete headers['content-encoding'];
      delete headers['content-md5'];
      // The bytes changed, so a strong validator no longer names them (RFC 9110 §8.8.1); the content is equivalent.
      const etag = first(headers['etag']);
      if (etag !== undefined && !etag.startsWith('W/')) headers['etag'] = `W/${etag}`;
      return { status: res.status, headers, body: bufferStream(buf) };
    }

    return {
      onRequest(ex) {
        if (o.requestIdentity) ex.headers['accept-encoding'] = 'identity';
        if (!staticBase) {
          const proto = first(ex.headers['x-forwarded-proto']) ?? 'http';
          const host = first(ex.headers['x-forwarded-host']) ?? first(ex.headers['host']) ?? '';
          const base = `${proto.split(',')[0].trim()}://${host.split(',')[0].trim()}`;
          // A Host with quotes or spaces would let a client inject text into the rewritten body.
          ex.set(STATE, /^[a-z]+:\/\/[A-Za-z0-9.:[\]-]+$/.test(base) ? base : deps.publicUrl);
        }
      },
      onResponse(ex, res) {
        const base = baseFor(ex);
        rewriteHeaders(res, base);
        const body = res.body;
        if (!body || res.status === 206) return res;
        const type = mediaType(res.headers['content-type']);
        const wanted = isJsonType(type) ? o.json : isTextType(type) ? o.text : false;
        // Decided from the head alone: binary and unknown bodies are never buffered.
        if (!wanted) return res;
        const coding = (first(res.headers['content-encoding']) ?? '').trim().toLowerCase();
        if (coding && coding !== 'identity' && !DECODERS[coding]) return res;
        return rewriteBody(ex, res, body, base);
      },
    };
  },
});
