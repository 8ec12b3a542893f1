import { definePolicy } from '../types.js';
import type { Exchange, PolicyHooks } from '../types.js';
import { FORM, bufferRequestBody, mediaType } from '../shared/body.js';
import { appendRaw, encodePair, removeParams } from '../shared/query.js';
import { MIN_SCRUB_LENGTH, SecretScrubber, scrubHooks } from '../shared/secret-scrub.js';
import { credentialsInfo } from './schema.js';

/** RFC 9110 §5.1 field-name token; §5.5 field values must not carry CR, LF or NUL. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\r\n\0]/;
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'DELETE']);

/**
 * One policy for every static upstream credential, so that secret handling (marking, Authorization
 * dropping, never echoing) lives in one place. OAuth 1.0a signing is its own policy (`oauth1`) because it
 * computes a value per request.
 */
export const credentialsPolicy = definePolicy({
  ...credentialsInfo,
  create(o, deps): PolicyHooks {
    // Everything marked secret here is also masked in responses (the User-Agent is not a secret).
    const sent: string[] = [];
    const secret = (v: string) => {
      deps.secret(v);
      sent.push(v);
    };
    const headers: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(o.headers)) {
      if (!FIELD_NAME.test(name)) throw new Error(`credentials: ${JSON.stringify(name)} is not a valid header name`);
      // Never quote the value: it is a secret.
      if (BAD_VALUE.test(value)) throw new Error(`credentials: the value of header ${name} contains a line break or NUL`);
      secret(value);
      headers.push([name.toLowerCase(), value]);
    }
    let authorization: string | undefined;
    if (o.basic) {
      if (o.basic.username.includes(':')) throw new Error('credentials: basic.username must not contain ":" (RFC 7617 §2)');
      secret(o.basic.password);
      const encoded = Buffer.from(`${o.basic.username}:${o.basic.password}`, 'utf8').toString('base64');
      secret(encoded);
      authorization = `Basic ${encoded}`;
    } else if (o.bearer !== undefined) {
      secret(o.bearer);
      authorization = `Bearer ${o.bearer}`;
    } else if (o.authorization) {
      secret(o.authorization.token);
      authorization = `${o.authorization.scheme} ${o.authorization.param ? `${o.authorization.param}=` : ''}${o.authorization.token}`;
    }
    if (authorization !== undefined) {
      if (BAD_VALUE.test(authorization)) throw new Error('credentials: the Authorization value contains a line break or NUL');
      // Its token (or Basic value) is already among the masked values.
      deps.secret(authorization);
      headers.push(['authorization', authorization]);
    }
    if (o.userAgent !== undefined) {
      if (BAD_VALUE.test(o.userAgent)) throw new Error('credentials: userAgent contains a line break or NUL');
      headers.push(['user-agent', o.userAgent]);
    }
    const setsAuthorization = headers.some(([n]) => n === 'authorization');
    const dropAuth = o.dropClientAuthorization ?? setsAuthorization;

    const queryNames = new Set(Object.keys(o.query));
    const queryRaw = Object.entries(o.query)
      .map(([k, v]) => {
        secret(v);
        return encodePair(k, v);
      })
      .join('&');
    const formNames = new Set(Object.keys(o.form));
    const formRaw = Object.entries(o.form)
      .map(([k, v]) => {
        secret(v);
        return encodePair(k, v);
      })
      .join('&');
    const maxForm = o.maxFormBody;
    const log = deps.log;

    /** Works on latin1 text so every byte of a Buffer body round-trips unchanged (the added fields are ASCII). */
    function addForm(ex: Exchange, current: string | Buffer): void {
      if (typeof current === 'string') ex.body = appendRaw(removeParams(current, formNames), formRaw);
      else ex.body = Buffer.from(appendRaw(removeParams(current.toString('latin1'), formNames), formRaw), 'latin1');
    }

    const scrubber = new SecretScrubber(sent);
    if (sent.some((v) => v.length < MIN_SCRUB_LENGTH)) log.warn(`credentials: values shorter than ${MIN_SCRUB_LENGTH} characters are not masked in responses`);
    const scrubBody = o.scrubResponseBody;
    // A policy that sends nothing secret (a User-Agent alone) adds no response hook: the route pays nothing.
    const scrubbing = scrubber.empty ? undefined : scrubHooks(scrubber, scrubBody);

    return {
      ...scrubbing,
      onRequest(ex) {
        if (dropAuth) delete ex.headers['authorization'];
        // Bodies are scanned as they stream: ask for them uncompressed (a compressed one is decoded anyway).
        if (scrubbing && scrubBody) ex.headers['accept-encoding'] = 'identity';
        for (const [name, value] of headers) ex.headers[name] = value;
        if (queryRaw) ex.query = appendRaw(removeParams(ex.query, queryNames), queryRaw);
        if (!formRaw) return;

        const b = ex.body;
        if (b === null) {
          if (BODYLESS.has(ex.method)) {
            log.debug({ requestId: ex.requestId, method: ex.method }, 'credentials: no form body to add fields to on a bodyless method');
            return;
          }
          ex.headers['content-type'] = FORM;
          addForm(ex, '');
          return;
        }
        if (mediaType(ex.headers['content-type']) !== FORM) {
          log.debug({ requestId: ex.requestId }, 'credentials: request body is not urlencoded; form fields not added');
          return;
        }
        if (typeof b === 'string' || Buffer.isBuffer(b)) {
          addForm(ex, b);
          return;
        }
        return bufferRequestBody(ex, maxForm).then((buf) => addForm(ex, buf));
      },
    };
  },
});
