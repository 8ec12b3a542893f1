import { GatewayError } from '../../errors.js';
import { definePolicy, stateKey } from '../types.js';
import type { Exchange, Headers, HeaderValue, PolicyHooks, UpstreamResponse } from '../types.js';
import { FORM, bufferRequestBody, bufferStream, isJsonType, mediaType, peek, replay } from '../shared/body.js';
import { pairsToObject, parsePairs } from '../shared/query.js';
import { negotiate } from './accept.js';
import type { Offer } from './accept.js';
import { negotiateInfo } from './schema.js';
import type { NegotiateOptions } from './schema.js';
import { fromXml, loadXml, toXml } from './xml.js';

const STATE = stateKey<Offer>('negotiate');
const JSON_TYPE = 'application/json';
/** Marks the ETag of an XML representation, so it never validates the JSON one (RFC 9110 §8.8.3). */
const XML_TAG = '-xml"';

function first(v: HeaderValue | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function joined(v: HeaderValue | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Adds Accept to Vary (RFC 9110 §12.5.5): caches then keep one answer per Accept value. */
function addVary(h: Headers): void {
  const v = joined(h['vary']);
  if (v === undefined || v.trim() === '') {
    h['vary'] = 'Accept';
    return;
  }
  if (/(^|,)\s*(accept|\*)\s*(,|$)/i.test(v)) return;
  h['vary'] = `${v}, Accept`;
}

/** addVary on the flat [name, value, …] head the proxy's direct path writes. */
function addVaryFlat(flat: string[]): void {
  let last = -1;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] !== 'vary') continue;
    if (/(^|,)\s*(accept|\*)\s*(,|$)/i.test(flat[i + 1])) return;
    if (flat[i + 1].trim() !== '') last = i + 1;
  }
  if (last === -1) flat.push('vary', 'Accept');
  else flat[last] = `${flat[last]}, Accept`;
}

function isXmlType(type: string): boolean {
  return type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml');
}

function charsetOf(ct: string): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(ct);
  return m ? m[1].toLowerCase() : undefined;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(buf: Buffer, what: string): string {
  try {
    return UTF8.decode(buf);
  } catch {
    throw new GatewayError('TG_BAD_REQUEST', `The ${what} body is not valid UTF-8.`);
  }
}

function unsupported(message: string): GatewayError {
  return new GatewayError('TG_UNSUPPORTED_MEDIA_TYPE', message);
}

async function multipartToObject(buf: Buffer, contentType: string, files: NegotiateOptions['files']): Promise<Record<string, unknown>> {
  let form: FormData;
  try {
    // undici's multipart parser (the one behind fetch's Response.formData): boundaries, quoting and charsets done right.
    form = await new Response(new Uint8Array(buf), { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new GatewayError('TG_BAD_REQUEST', 'The multipart/form-data body could not be read (check the boundary and the part headers).');
  }
  const out = Object.create(null) as Record<string, unknown>;
  const repeated = new Set<string>();
  for (const [name, value] of form) {
    let v: unknown = value;
    if (typeof value !== 'string') {
      if (files === 'refuse') throw unsupported(`The multipart part "${name}" is a file; this route takes form fields only.`);
      v = { filename: value.name, type: value.type, size: value.size, base64: Buffer.from(await value.arrayBuffer()).toString('base64') };
    }
    if (!(name in out)) out[name] = v;
    else if (repeated.has(name)) (out[name] as unknown[]).push(v);
    else {
      out[name] = [out[name], v];
      repeated.add(name);
    }
  }
  return out;
}

export const negotiatePolicy = definePolicy({
  ...negotiateInfo,
  async create(o, deps) {
    await loadXml();
    const { log } = deps;
    const max = o.maxBodySize;

    /** Converts a non-JSON request body to JSON; JSON bodies stream through untouched. */
    async function convertRequest(ex: Exchange): Promise<void> {
      const ct = joined(ex.headers['content-type']) ?? '';
      const type = mediaType(ct);
      if (isJsonType(type)) return;
      const xml = isXmlType(type);
      const multipart = type === 'multipart/form-data';
      if (!xml && !multipart && type !== FORM) {
        throw unsupported(
          type === ''
            ? 'The request has a body but no Content-Type; send application/json, application/xml, application/x-www-form-urlencoded or multipart/form-data.'
            : `Content-Type ${type} is not accepted here; send application/json, application/xml, application/x-www-form-urlencoded or multipart/form-data.`,
        );
      }
      const coding = (joined(ex.headers['content-encoding']) ?? '').trim().toLowerCase();
      if (coding !== '' && coding !== 'identity') throw unsupported(`Content-Encoding ${coding} is not accepted on a ${type} body here; send it uncompressed.`);
      const charset = charsetOf(ct);
      if (!multipart && charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
        throw unsupported(`charset=${charset} is not accepted; send UTF-8.`);
      }
      const buf = await bufferRequestBody(ex, max);
      let value: unknown;
      if (xml) value = fromXml(decodeUtf8(buf, 'XML'), o.item, o.typedValues);
      else if (multipart) value = await multipartToObject(buf, ct, o.files);
      else value = pairsToObject(parsePairs(decodeUtf8(buf, 'form')));
      ex.body = Buffer.from(JSON.stringify(value));
      ex.headers['content-type'] = JSON_TYPE;
      // The handler sets Content-Length from the new buffer; the old framing and coding no longer apply.
      delete ex.headers['content-encoding'];
      delete ex.headers['content-md5'];
      delete ex.headers['digest'];
      delete ex.headers['content-digest'];
    }

    function chooseResponse(ex: Exchange): void {
      const chosen = negotiate(joined(ex.headers['accept']));
      if (chosen === undefined) {
        throw new GatewayError('TG_NOT_ACCEPTABLE', 'This route answers application/json, application/xml or text/xml; the Accept header allows none of them.', {
          headers: { vary: 'Accept' },
        });
      }
      if (chosen === JSON_TYPE) return;
      ex.set(STATE, chosen);
      const h = ex.headers;
      h['accept'] = JSON_TYPE;
      // The conversion needs the plain JSON bytes, whole.
      h['accept-encoding'] = 'identity';
      delete h['range'];
      delete h['if-range'];
      const inm = joined(h['if-none-match']);
      if (inm !== undefined) h['if-none-match'] = inm.split(XML_TAG).join('"');
    }

    function xmlHeaders(res: UpstreamResponse, chosen: Offer, length: number | undefined): Headers {
      const headers: Headers = { ...res.headers, 'content-type': `${chosen}; charset=utf-8` };
      if (length === undefined) delete headers['content-length'];
      else headers['content-length'] = String(length);
      delete headers['transfer-encoding'];
      delete headers['content-md5'];
      delete headers['content-digest'];
      delete headers['accept-ranges'];
      const etag = first(headers['etag']);
      if (etag !== undefined && etag.endsWith('"')) headers['etag'] = etag.slice(0, -1) + XML_TAG;
      return headers;
    }

    function passJson(ex: Exchange, res: UpstreamResponse, why: string): UpstreamResponse {
      log.warn({ requestId: ex.requestId, limit: max }, `negotiate: ${why}; the JSON answer went out unconverted`);
      return res;
    }

    async function toXmlResponse(ex: Exchange, res: UpstreamResponse, chosen: Offer, body: NonNullable<UpstreamResponse['body']>): Promise<UpstreamResponse> {
      const declared = Number(first(res.headers['content-length']) ?? NaN);
      if (declared > max) return passJson(ex, res, 'body larger than maxBodySize');
      const got = await peek(body, max + 1);
      if (!got.ended) return passJson(ex, { ...res, body: replay(got.head, body) }, 'body larger than maxBodySize');
      let xml: Buffer;
      try {
        xml = Buffer.from(toXml(JSON.parse(got.head.toString('utf8')), o.root, o.item));
      } catch (e) {
        return passJson(ex, { ...res, body: bufferStream(got.head) }, `could not convert the body (${(e as Error).message})`);
      }
      return { status: res.status, headers: xmlHeaders(res, chosen, xml.length), body: bufferStream(xml) };
    }

    const hooks: PolicyHooks = {
      onRequest(ex) {
        if (o.response) chooseResponse(ex);
        if (o.request && ex.body !== null) return convertRequest(ex);
      },
    };
    // Only requests converted: no response hook, so the route keeps the direct response path.
    if (!o.response) return hooks;
    hooks.onResponse = (ex, res) => {
      addVary(res.headers);
      const chosen = ex.get(STATE);
      // JSON wanted: the upstream's bytes stream through; only Vary changed.
      if (chosen === undefined) return;
      if (!isJsonType(mediaType(res.headers['content-type']))) {
        // 304 (no type) keeps the XML validator; other types are not ours to convert.
        if (res.status === 304) res.headers = xmlHeaders(res, chosen, undefined);
        return;
      }
      const coding = (first(res.headers['content-encoding']) ?? '').trim().toLowerCase();
      if (coding !== '' && coding !== 'identity') return passJson(ex, res, `body encoded as ${coding}`);
      if (!res.body || res.status === 206) {
        // HEAD: the headers the XML answer would have, except its length, which only the conversion knows.
        if (!res.body && res.status !== 206) res.headers = xmlHeaders(res, chosen, undefined);
        return;
      }
      return toXmlResponse(ex, res, chosen, res.body);
    };
    // A JSON client needs only Vary: the route keeps the proxy's direct path (no stream in between) unless
    // another response policy needs the stream; an XML client takes the stream path for the conversion.
    hooks.onResponseHead = (ex, _status, flat) => {
      if (ex.get(STATE) !== undefined) return 'stream';
      addVaryFlat(flat);
      return undefined;
    };
    return hooks;
  },
});
