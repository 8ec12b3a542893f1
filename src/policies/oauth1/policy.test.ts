import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { request } from 'undici';
import { oauth1Policy } from './policy.js';
import { oauth1Schema } from './schema.js';
import type { Exchange, PolicyDeps, PolicyHooks, StateKey } from '../types.js';
import { startFakeOauth1Provider } from '../../../test/fixtures/fake-oauth1-provider.js';
import type { FakeOauth1Provider } from '../../../test/fixtures/fake-oauth1-provider.js';

let provider: FakeOauth1Provider;
let creds: { token: string; tokenSecret: string };
beforeAll(async () => {
  provider = await startFakeOauth1Provider();
  creds = provider.issueAccessToken();
});
afterAll(() => provider.close());

function makeDeps(upstreamUrl: string | undefined, secrets: string[] = []): PolicyDeps {
  return {
    routeName: 'discogs-api',
    upstreamUrl,
    publicUrl: 'http://127.0.0.1:8080',
    configDir: process.cwd(),
    log: pino({ level: 'silent' }),
    secret: (value) => secrets.push(value),
    services: {},
    credentialLocations: { query: new Set(), headers: new Set() },
  };
}

function makeExchange(fields: Partial<Pick<Exchange, 'method' | 'path' | 'query' | 'headers' | 'body'>>): Exchange {
  const slots = new Map<unknown, unknown>();
  return {
    client: { method: fields.method ?? 'GET', url: '/', path: '/', query: '', headers: {} },
    get: <T>(key: StateKey<T>) => slots.get(key) as T | undefined,
    set: (key, value) => void slots.set(key, value),
    replay: () => Promise.resolve(),
    requestId: 'req-1',
    routeName: 'discogs-api',
    clientIp: '127.0.0.1',
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the type still carries the alias custom policies use
    clientUrl: '/',
    method: 'GET',
    path: '/',
    query: '',
    params: {},
    headers: {},
    body: null,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
    state: {},
    log: pino({ level: 'silent' }),
    startedAt: process.hrtime.bigint(),
    detachUpstream: () => undefined,
    addResponseHeader: () => undefined,
    ...fields,
  };
}

async function hooksFor(upstreamUrl: string, extra: Record<string, unknown> = {}): Promise<PolicyHooks> {
  const options = oauth1Schema.parse({
    consumerKey: provider.consumerKey,
    consumerSecret: provider.consumerSecret,
    token: creds.token,
    tokenSecret: creds.tokenSecret,
    ...extra,
  });
  return oauth1Policy.create(options, makeDeps(upstreamUrl));
}

/** Sends the exchange's upstream request as the proxy would, to the provider, which verifies it independently. */
async function forward(upstreamUrl: string, ex: Exchange): Promise<{ status: number; text: string }> {
  const url = `${upstreamUrl.replace(/\/+$/, '')}${ex.path}${ex.query ? `?${ex.query}` : ''}`;
  const body = ex.body === null ? undefined : ex.body;
  const res = await request(url, { method: ex.method as 'GET', headers: ex.headers, body });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('oauth1 policy signs the upstream request so the provider accepts it', () => {
  it('a GET with a query, replacing whatever Authorization the client sent', async () => {
    const hooks = await hooksFor(provider.url);
    const ex = makeExchange({ path: '/database/search', query: 'q=Nirvana%20Nevermind&type=release&per_page=5', headers: { authorization: 'Bearer client-token' } });
    await hooks.onRequest?.(ex);
    expect(ex.headers.authorization).toMatch(/^OAuth oauth_consumer_key="fake-consumer-key", oauth_token=/);
    const res = await forward(provider.url, ex);
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ path: '/database/search', query: 'q=Nirvana%20Nevermind&type=release&per_page=5' });
  });

  it('the identity endpoint, with HMAC-SHA256 and an upstream URL that has a base path', async () => {
    const hooks = await hooksFor(`${provider.url}/oauth/`, { signature: 'HMAC-SHA256' });
    const ex = makeExchange({ path: '/identity' });
    await hooks.onRequest?.(ex);
    const res = await forward(`${provider.url}/oauth/`, ex);
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text).username).toBe(provider.username);
  });

  it('a form body held as a string or Buffer is part of the signature', async () => {
    const hooks = await hooksFor(provider.url, { signature: 'PLAINTEXT', realm: 'Discogs' });
    for (const body of ['comment=Great+pressing%21&rating=5', Buffer.from('comment=caf%C3%A9&rating=4')]) {
      const ex = makeExchange({ method: 'POST', path: '/users/me/collection', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, body });
      await hooks.onRequest?.(ex);
      const res = await forward(provider.url, ex);
      expect(res.status, res.text).toBe(200);
      expect(JSON.parse(res.text).form[0][0]).toBe('comment');
    }
  });

  it('a JSON body is not part of the signature and does not break it', async () => {
    const hooks = await hooksFor(provider.url);
    const ex = makeExchange({ method: 'PUT', path: '/lists/1', headers: { 'content-type': 'application/json' }, body: '{"a=b":"c&d"}' });
    await hooks.onRequest?.(ex);
    expect((await forward(provider.url, ex)).status).toBe(200);
  });

  it('a form body still streaming from the client is read and signed, and forwarded as the same bytes', async () => {
    const hooks = await hooksFor(provider.url);
    const ex = makeExchange({ method: 'POST', path: '/x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Readable.from([Buffer.from('a=1&b='), Buffer.from('two+words')]) });
    await hooks.onRequest?.(ex);
    expect(Buffer.isBuffer(ex.body) && ex.body.toString()).toBe('a=1&b=two+words');
    const res = await forward(provider.url, ex);
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text).form).toEqual([['a', '1'], ['b', 'two words']]);
  });

  it('each request gets a fresh nonce, so repeating a request is not refused as a replay', async () => {
    const hooks = await hooksFor(provider.url);
    for (let i = 0; i < 3; i++) {
      const ex = makeExchange({ path: '/oauth/identity' });
      await hooks.onRequest?.(ex);
      expect((await forward(provider.url, ex)).status).toBe(200);
    }
  });
});

describe('oauth1 policy configuration', () => {
  it('marks the consumer secret, token and token secret as secrets', async () => {
    const secrets: string[] = [];
    const options = oauth1Schema.parse({ consumerKey: 'ck', consumerSecret: 'cs', token: 'tk', tokenSecret: 'ts' });
    await oauth1Policy.create(options, makeDeps('https://api.discogs.com', secrets));
    expect(secrets.sort()).toEqual(['cs', 'tk', 'ts']);
  });

  it('defaults to HMAC-SHA1 and refuses unknown methods, empty credentials and a route without upstream', async () => {
    expect(oauth1Schema.parse({ consumerKey: 'ck', consumerSecret: 'cs', token: 'tk', tokenSecret: 'ts' }).signature).toBe('HMAC-SHA1');
    expect(oauth1Schema.safeParse({ consumerKey: 'ck', consumerSecret: 'cs', token: 'tk', tokenSecret: 'ts', signature: 'RSA-SHA1' }).success).toBe(false);
    const empty = oauth1Schema.safeParse({ consumerKey: 'ck', consumerSecret: '', token: 'tk', tokenSecret: 'ts' });
    expect(empty.error?.issues[0].message).toMatch(/consumerSecret must not be empty/);
    const options = oauth1Schema.parse({ consumerKey: 'ck', consumerSecret: 'cs', token: 'tk', tokenSecret: 'ts' });
    expect(() => oauth1Policy.create(options, makeDeps(undefined))).toThrow(/needs an upstream/);
  });
});
