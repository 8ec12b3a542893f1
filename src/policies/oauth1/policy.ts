import { definePolicy } from '../types.js';
import type { Exchange } from '../types.js';
import { FORM, bufferRequestBody, mediaType } from '../shared/body.js';
import { SecretScrubber, scrubHooks } from '../shared/secret-scrub.js';
import { oauth1Info } from './schema.js';
import { signRequest } from './sign.js';

export const oauth1Policy = definePolicy({
  ...oauth1Info,
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

    const maxForm = options.maxFormBody;
    const sign = (ex: Exchange, body: string | undefined): void => {
      const url = `${base}${ex.path}${ex.query ? `?${ex.query}` : ''}`;
      ex.headers.authorization = signRequest({
        method: ex.method,
        url,
        body,
        consumerKey: options.consumerKey,
        consumerSecret: options.consumerSecret,
        token: options.token,
        tokenSecret: options.tokenSecret,
        signatureMethod: options.signature,
        realm: options.realm,
      });
    };

    return {
      ...(scrubber.empty ? {} : scrubHooks(scrubber, scrubBody)),
      onRequest(ex: Exchange) {
        if (scrubBody && !scrubber.empty) ex.headers['accept-encoding'] = 'identity';
        // Form parameters are part of the signature (RFC 5849 §3.4.1.3.1,
        // https://www.rfc-editor.org/rfc/rfc5849#section-3.4.1.3.1), so a urlencoded body still streaming from
        // the client is read first (up to maxFormBody, else 413). Other bodies are not signed and keep streaming.
        const b = ex.body;
        if (b === null || mediaType(ex.headers['content-type']) !== FORM) return sign(ex, undefined);
        if (typeof b === 'string' || Buffer.isBuffer(b)) return sign(ex, b.toString());
        return bufferRequestBody(ex, maxForm).then((buf) => sign(ex, buf.toString('utf8')));
      },
    };
  },
});
