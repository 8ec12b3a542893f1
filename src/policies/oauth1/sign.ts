/**
 * OAuth 1.0a request signing, RFC 5849 (https://www.rfc-editor.org/rfc/rfc5849), on node:crypto.
 * HMAC-SHA256 is not in RFC 5849 but is the common extension (same key and base string, SHA-256 digest).
 */
import { createHmac, randomBytes } from 'node:crypto';

export type SignatureMethod = 'HMAC-SHA1' | 'HMAC-SHA256' | 'PLAINTEXT';
export const SIGNATURE_METHODS = ['HMAC-SHA1', 'HMAC-SHA256', 'PLAINTEXT'] as const satisfies readonly SignatureMethod[];

const NONCE_BYTES = 16;
const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };
// Scheme and authority, then the raw path: kept as written because the provider rebuilds the base string
// from the bytes it receives, and `new URL()` would normalise dot segments and re-encode characters.
const RAW_PATH = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*([^?#]*)/;

export interface SignRequestParams {
  method: string;
  /** Absolute URL of the request as it goes on the wire; may include a query. */
  url: string;
  /**
   * The application/x-www-form-urlencoded body, whose parameters are signed (RFC 5849 §3.4.1.3.1).
   * Pass it only for that content type: other bodies are not part of the signature.
   */
  body?: string;
  consumerKey: string;
  consumerSecret: string;
  token?: string;
  tokenSecret?: string;
  signatureMethod: SignatureMethod;
  /** Fresh random value per call when omitted. */
  nonce?: string;
  /** Seconds since the epoch; now when omitted. */
  timestamp?: string;
  /** oauth_callback, for the temporary-credentials request (RFC 5849 §2.1). */
  callback?: string;
  /** oauth_verifier, for the token-credentials request (RFC 5849 §2.3). */
  verifier?: string;
  realm?: string;
  /**
   * Send oauth_version="1.0" (default true). RFC 5849 §3.1 makes it OPTIONAL; providers such as Discogs
   * accept it and some older ones require it, while none we know reject it.
   */
  version?: boolean;
}

/** RFC 5849 §3.6: UTF-8, then every octet except ALPHA / DIGIT / "-" / "." / "_" / "~" as %XX (upper-case). */
export function percentEncode(value: string): string {
  // encodeURIComponent already does UTF-8 and upper-case hex; it leaves !'()* alone, which §3.6 encodes.
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** RFC 5849 §3.4.1.2: scheme and host lower-case, default port dropped, path as sent, no query. */
export function baseStringUri(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port && parsed.port !== DEFAULT_PORTS[parsed.protocol] ? `:${parsed.port}` : '';
  const rawPath = RAW_PATH.exec(url)?.[1] || '/';
  return `${parsed.protocol}//${parsed.hostname}${port}${rawPath}`;
}

/** RFC 5849 §3.4.1.3.2: encode names and values, sort by name then value (byte order), keep duplicates. */
function normalizeParameters(params: ReadonlyArray<readonly [string, string]>): string {
  return params
    .map(([name, value]) => [percentEncode(name), percentEncode(value)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** RFC 5849 §3.4.1: the signature base string. `oauthParams` excludes realm and oauth_signature. */
export function signatureBaseString(
  method: string,
  url: string,
  oauthParams: ReadonlyArray<readonly [string, string]>,
  body?: string,
): string {
  const queryIndex = url.indexOf('?');
  const query = queryIndex === -1 ? '' : url.slice(queryIndex + 1).split('#')[0];
  const params: Array<readonly [string, string]> = [...formPairs(query), ...oauthParams];
  if (body !== undefined) params.push(...formPairs(body));
  return [method.toUpperCase(), percentEncode(baseStringUri(url)), percentEncode(normalizeParameters(params))].join('&');
}

/** Computes oauth_signature (unencoded) for a base string, RFC 5849 §3.4.2–3.4.4. */
function computeSignature(method: SignatureMethod, baseString: string, consumerSecret: string, tokenSecret = ''): string {
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  switch (method) {
    case 'HMAC-SHA1':
      return createHmac('sha1', key).update(baseString).digest('base64');
    case 'HMAC-SHA256':
      return createHmac('sha256', key).update(baseString).digest('base64');
    case 'PLAINTEXT':
      return key;
  }
}

/** Signs one request and returns the full `Authorization` header value (`OAuth ...`), RFC 5849 §3.5.1. */
export function signRequest(params: SignRequestParams): string {
  const oauth: Array<[string, string]> = [['oauth_consumer_key', params.consumerKey]];
  if (params.token !== undefined) oauth.push(['oauth_token', params.token]);
  oauth.push(
    ['oauth_signature_method', params.signatureMethod],
    ['oauth_timestamp', params.timestamp ?? String(Math.floor(Date.now() / 1000))],
    ['oauth_nonce', params.nonce ?? randomBytes(NONCE_BYTES).toString('hex')],
  );
  if (params.version ?? true) oauth.push(['oauth_version', '1.0']);
  if (params.callback !== undefined) oauth.push(['oauth_callback', params.callback]);
  if (params.verifier !== undefined) oauth.push(['oauth_verifier', params.verifier]);

  const base = signatureBaseString(params.method, params.url, oauth, params.body);
  oauth.push(['oauth_signature', computeSignature(params.signatureMethod, base, params.consumerSecret, params.tokenSecret)]);

  const parts = oauth.map(([name, value]) => `${percentEncode(name)}="${percentEncode(value)}"`);
  if (params.realm !== undefined) parts.unshift(`realm="${quotedString(params.realm)}"`);
  return `OAuth ${parts.join(', ')}`;
}

/** application/x-www-form-urlencoded pairs, decoded ('+' is a space), duplicates and empty values kept. */
function formPairs(encoded: string): Array<readonly [string, string]> {
  if (encoded === '') return [];
  return [...new URLSearchParams(encoded)];
}

/** realm is an RFC 2617 quoted-string, not percent-encoded: escape the quote and backslash only. */
function quotedString(value: string): string {
  if (/[\r\n]/.test(value)) throw new Error('OAuth realm must not contain line breaks.');
  return value.replace(/["\\]/g, '\\$&');
}
