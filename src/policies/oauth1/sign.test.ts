import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'undici';
import { baseStringUri, percentEncode, signatureBaseString, signRequest } from './sign.js';
import { startFakeOauth1Provider } from '../../../test/fixtures/fake-oauth1-provider.js';
import type { FakeOauth1Provider } from '../../../test/fixtures/fake-oauth1-provider.js';

function headerParams(header: string): Record<string, string> {
  expect(header.startsWith('OAuth ')).toBe(true);
  const out: Record<string, string> = {};
  for (const m of header.slice(6).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

// The photos.example.net request shared by RFC 5849 §1.2 and OAuth Core 1.0 Appendix A.
const PHOTOS = {
  method: 'GET',
  url: 'http://photos.example.net/photos?file=vacation.jpg&size=original',
  consumerKey: 'dpf43f3p2l4k3l03',
  consumerSecret: 'kd94hf93k423kf44',
  token: 'nnch734d00sl2jdk',
  tokenSecret: 'pfkkdhi9sl3r4s00',
  signatureMethod: 'HMAC-SHA1',
} as const;

describe('signRequest reproduces the published examples', () => {
  it('RFC 5849 §1.2 (timestamp 137131202, nonce chapoH, no oauth_version)', () => {
    const header = signRequest({ ...PHOTOS, timestamp: '137131202', nonce: 'chapoH', realm: 'Photos', version: false });
    expect(header).toBe(
      'OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", ' +
        'oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131202", oauth_nonce="chapoH", ' +
        'oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D"',
    );
  });

  it('OAuth Core 1.0 Appendix A (timestamp 1191242096, nonce kllo9940pd9333jh, oauth_version 1.0)', () => {
    const header = signRequest({ ...PHOTOS, timestamp: '1191242096', nonce: 'kllo9940pd9333jh' });
    expect(headerParams(header).oauth_version).toBe('1.0');
    expect(headerParams(header).oauth_signature).toBe('tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D');
  });

  it('RFC 5849 §3.4.1.1 base string: query and form body decoded, duplicates kept, sorted', () => {
    const base = signatureBaseString(
      'POST',
      'http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b',
      [
        ['oauth_consumer_key', '9djdj82h48djs9d2'],
        ['oauth_token', 'kkk9d7dh3k39sjv7'],
        ['oauth_signature_method', 'HMAC-SHA1'],
        ['oauth_timestamp', '137131201'],
        ['oauth_nonce', '7d8f3e4a'],
      ],
      'c2&a3=2+q',
    );
    expect(base).toBe(
      'POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q' +
        '%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h' +
        '48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1' +
        '%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7',
    );
  });

  it('RFC 5849 §3.4.1.2 base string URI: scheme and host lower-cased, default port dropped, other ports kept', () => {
    expect(baseStringUri('HTTP://EXAMPLE.COM:80/r%20v/X?id=123')).toBe('http://example.com/r%20v/X');
    expect(baseStringUri('https://www.example.net:8080/?q=1')).toBe('https://www.example.net:8080/');
    expect(baseStringUri('https://api.example.com:443')).toBe('https://api.example.com/');
  });
});

describe('signRequest methods and encoding', () => {
  it('PLAINTEXT sends the encoded secrets joined by "&", percent-encoded again in the header (RFC 5849 §3.4.4)', () => {
    const header = signRequest({ ...PHOTOS, signatureMethod: 'PLAINTEXT', consumerSecret: 'a b&c', tokenSecret: 'x~y' });
    // signature = "a%20b%26c&x~y", then header encoding
    expect(headerParams(header).oauth_signature).toBe('a%2520b%2526c%26x~y');
    expect(headerParams(header).oauth_signature_method).toBe('PLAINTEXT');
  });

  it('HMAC-SHA256 yields a 32-byte signature that differs from HMAC-SHA1 for the same request', () => {
    const fixed = { timestamp: '1191242096', nonce: 'kllo9940pd9333jh' };
    const sha256 = decodeURIComponent(headerParams(signRequest({ ...PHOTOS, ...fixed, signatureMethod: 'HMAC-SHA256' })).oauth_signature);
    expect(Buffer.from(sha256, 'base64')).toHaveLength(32);
    expect(sha256).not.toBe('tR3+Ty81lMeYAr/Fid0kMTYa/WM=');
  });

  it('percent-encodes per §3.6: spaces as %20, "~" kept, reserved and sub-delims encoded, UTF-8 bytes', () => {
    expect(percentEncode('a b')).toBe('a%20b');
    expect(percentEncode('-._~')).toBe('-._~');
    expect(percentEncode("!*'()+&=/:")).toBe('%21%2A%27%28%29%2B%26%3D%2F%3A');
    expect(percentEncode('é☃')).toBe('%C3%A9%E2%98%83');
    expect(percentEncode('😀')).toBe('%F0%9F%98%80');
  });

  it('uses a fresh nonce and the current time when none is given', () => {
    const a = headerParams(signRequest(PHOTOS));
    const b = headerParams(signRequest(PHOTOS));
    expect(a.oauth_nonce).not.toBe(b.oauth_nonce);
    expect(Math.abs(Number(a.oauth_timestamp) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('escapes a realm with quotes instead of percent-encoding it', () => {
    expect(signRequest({ ...PHOTOS, realm: 'say "hi"' })).toMatch(/^OAuth realm="say \\"hi\\"", oauth_consumer_key=/);
  });
});

describe('an independent verifier (the fake provider) accepts what signRequest produces', () => {
  let provider: FakeOauth1Provider;
  let creds: { token: string; tokenSecret: string };
  beforeAll(async () => {
    provider = await startFakeOauth1Provider();
    creds = provider.issueAccessToken();
  });
  afterAll(() => provider.close());

  const sign = (method: string, url: string, extra: Partial<Parameters<typeof signRequest>[0]> = {}): string =>
    signRequest({
      method,
      url,
      consumerKey: provider.consumerKey,
      consumerSecret: provider.consumerSecret,
      token: creds.token,
      tokenSecret: creds.tokenSecret,
      signatureMethod: 'HMAC-SHA1',
      ...extra,
    });

  for (const signatureMethod of ['HMAC-SHA1', 'HMAC-SHA256', 'PLAINTEXT'] as const) {
    it(`${signatureMethod}: a query with awkward characters and a form body`, async () => {
      const url = `${provider.url}/database/search?q=zebra&q=Daft%20Punk+live&q=a%2Bb&type=release&title=%C3%A9t%C3%A9&empty=`;
      const body = 'note=caf%C3%A9+%26+cr%C3%A8me&tilde=~&star=%2A&flag';
      const res = await request(url, {
        method: 'POST',
        headers: { authorization: sign('POST', url, { body, signatureMethod }), 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      const text = await res.body.text();
      expect(res.statusCode, text).toBe(200);
      expect(JSON.parse(text).form).toContainEqual(['note', 'café & crème']);
    });
  }

  it('refuses a tampered request, a reused nonce, a stale timestamp and an unknown consumer', async () => {
    const url = `${provider.url}/oauth/identity`;
    const call = async (authorization: string, target = url): Promise<[number, string]> => {
      const res = await request(target, { headers: { authorization } });
      return [res.statusCode, await res.body.text()];
    };
    const [status, text] = await call(sign('GET', `${url}?page=1`), `${url}?page=2`);
    expect(status).toBe(401);
    expect(text).toMatch(/^Invalid signature/);

    const once = sign('GET', url);
    expect((await call(once))[0]).toBe(200);
    expect(await call(once)).toEqual([401, 'Invalid nonce: already used.']);

    const stale = String(Math.floor(Date.now() / 1000) - 3600);
    expect((await call(sign('GET', url, { timestamp: stale })))[1]).toMatch(/^Invalid timestamp/);
    expect(await call(sign('GET', url, { consumerKey: 'nope' }))).toEqual([401, 'Invalid consumer.']);
  });
});
