/**
 * A client POSTing application/x-www-form-urlencoded through an oauth1 route: the form parameters are part
 * of the signature (RFC 5849 §3.4.1.3.1), so the provider, which rebuilds the base string from what it
 * receives (test/fixtures/fake-oauth1-provider.ts, its own code), accepts the request.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { track } from '../helpers/upstream.js';
import { startFakeOauth1Provider } from '../fixtures/fake-oauth1-provider.js';
import type { FakeOauth1Provider } from '../fixtures/fake-oauth1-provider.js';

let provider: FakeOauth1Provider;
beforeEach(async () => {
  provider = track(await startFakeOauth1Provider());
});
afterEach(closeAll);

async function gateway(extra = '') {
  const { token, tokenSecret } = provider.issueAccessToken();
  return startTestGateway(
    `upstreams:\n  p: { url: "${provider.url}" }\nroutes:\n  - match: { prefix: / }\n    upstream: p\n    maxBodySize: 1MiB\n    policies:\n` +
      `      - oauth1: { consumerKey: ${provider.consumerKey}, consumerSecret: ${provider.consumerSecret}, token: ${token}, tokenSecret: ${tokenSecret}${extra} }\n`,
  );
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const body = 'notes=Great+pressing%21&rating=5&folder_id=1&caf%C3%A9=%E2%98%95';
const expectedForm = [['notes', 'Great pressing!'], ['rating', '5'], ['folder_id', '1'], ['café', '☕']];

describe('oauth1 signs the form parameters of a body the client streams', () => {
  it('with Content-Length: the provider accepts it and gets the body unchanged', async () => {
    const gw = await gateway();
    const r = await send(gw.url, { method: 'POST', path: '/users/me/collection?x=1', headers: { ...FORM, 'content-length': String(Buffer.byteLength(body)) }, body });
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json()).toMatchObject({ method: 'POST', path: '/users/me/collection', query: 'x=1', form: expectedForm });
  });

  it('chunked, in several pieces: the same', async () => {
    const gw = await gateway();
    const pieces = [body.slice(0, 7), body.slice(7, 30), body.slice(30)].map((s) => Buffer.from(s));
    const r = await send(gw.url, { method: 'PUT', path: '/lists/1', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, body: pieces });
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json()).toMatchObject({ method: 'PUT', form: expectedForm });
  });

  it('a form larger than maxFormBody gets 413 and never reaches the provider; other bodies still stream unsigned', async () => {
    const gw = await gateway(', maxFormBody: 1KiB');
    const big = `a=${'x'.repeat(4096)}`;
    const r = await send(gw.url, { method: 'POST', path: '/x', headers: FORM, body: [Buffer.from(big)] });
    expect(r.status).toBe(413);
    expect(r.json()).toMatchObject({ code: 'TG_BODY_TOO_LARGE' });
    expect(provider.rejections).toEqual([]);
    const json = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/json' }, body: [Buffer.from(JSON.stringify({ big }))] });
    expect(json.status, json.body.toString()).toBe(200);
  });
});
