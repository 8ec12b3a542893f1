import { definePolicy } from '../types.js';
import type { Exchange, HeaderValue, UpstreamResponse } from '../types.js';
import { SecretScrubber, scrubResponse } from '../shared/secret-scrub.js';
import { oauth1Schema } from './schema.js';
import { signRequest } from './sign.js';

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export const oauth1Policy = definePolicy({
  name: 'oauth1',
  description: 'Signs upstream requests with OAuth 1.0a (RFC 5849) using fixed token credentials.',
  priority: 300,
  schema: oauth1Schema,
  create(options, deps) {
    if (!deps.upstreamUrl) throw new Error(`oauth1 on route "${deps.routeName}" needs an upstream to sign requests for.`);
    deps.secret(options.consumerSecret);
    deps.secret(options.tokenSecret);
    deps.secret(options.token);
    // oauth_token goes out with every request, and PLAINTEXT sends both secrets: all three are masked in responses.
    const scrubber = new SecretScrubber([options.token, options.consumerSecret, options.tokenSecret]);
    const scrubBody = options.scrubResponseBody;
    // The upstream's base path (if any) prefixes every exchange path, the same join the proxy makes.
    const base = deps.upstreamUrl.replace(/\/+$/, '');

    return {
      ...(scrubber.empty ? {} : { onResponse: (_ex: Exchange, res: UpstreamResponse) => scrubResponse(scrubber, res, scrubBody) }),
      onRequest(ex: Exchange) {
        if (scrubBody && !scrubber.empty) ex.headers['accept-encoding'] = 'identity';
        const url = `${base}${ex.path}${ex.query ? `?${ex.query}` : ''}`;
        ex.headers.authorization = signRequest({
          method: ex.method,
          url,
          body: formBody(ex),
          consumerKey: options.consumerKey,
          consumerSecret: options.consumerSecret,
          token: options.token,
          tokenSecret: options.tokenSecret,
          signatureMethod: options.signature,
          realm: options.realm,
        });
      },
    };
  },
});

/**
 * Form parameters are part of the signature (RFC 5849 §3.4.1.3.1), so they must be known now. Only a body
 * already in memory (a string or Buffer, e.g. produced by a transform policy) is signed: a client's body
 * stream is not read here, because buffering every body to sign it would cost every route. A form posted as
 * a stream is therefore forwarded with a signature that omits its parameters, which the provider rejects.
 */
function formBody(ex: Exchange): string | undefined {
  if (!isForm(ex.headers['content-type'])) return undefined;
  if (typeof ex.body === 'string') return ex.body;
  if (Buffer.isBuffer(ex.body)) return ex.body.toString('utf8');
  return undefined;
}

function isForm(contentType: HeaderValue | undefined): boolean {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  return value?.split(';')[0].trim().toLowerCase() === FORM_CONTENT_TYPE;
}
