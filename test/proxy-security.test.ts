/**
 * Escape attempts, sent as raw bytes on a socket because HTTP clients normalise URLs before sending.
 * Every refused request must leave the upstreams untouched: only configured upstreams, only within a route.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeAll, rawRequest, startTestGateway } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';
import type { TestUpstream } from './helpers/upstream.js';

let catchAll: TestUpstream;
let privateUp: TestUpstream;
let gw: TestGateway;

beforeEach(async () => {
  catchAll = await startUpstream();
  privateUp = await startUpstream();
  gw = await startTestGateway(`
upstreams:
  public: { url: "${catchAll.url}" }
  private: { url: "${privateUp.url}" }
routes:
  - name: private
    match: { prefix: /private/ }
    upstream: private
  - name: api
    match: { prefix: /api/ }
    upstream: public
    stripPrefix: true
  - name: catch-all
    match: { prefix: / }
    upstream: public
`);
});
afterEach(closeAll);

const get = (target: string, extraHeaders = 'Host: gateway.test\r\n') => `GET ${target} HTTP/1.1\r\n${extraHeaders}Connection: close\r\n\r\n`;

function expectRefused(r: { status: number; body: string }): void {
  expect(r.status).toBe(400);
  expect(JSON.parse(r.body)).toMatchObject({ code: expect.stringMatching(/^TG_BAD/), error: expect.any(String) });
  expect(catchAll.requests).toHaveLength(0);
  expect(privateUp.requests).toHaveLength(0);
}

describe('request targets that could reach another host are refused with 400', () => {
  it('absolute-form GET http://evil.example/ never reaches any upstream', async () => {
    expectRefused(await rawRequest(gw.url, get('http://evil.example/', 'Host: evil.example\r\n')));
  });

  it('absolute-form naming the gateway itself is refused too (only origin-form is accepted)', async () => {
    expectRefused(await rawRequest(gw.url, get(`http://127.0.0.1:${gw.port}/api/x`)));
  });

  it('a scheme-relative //evil.example/x is refused', async () => {
    expectRefused(await rawRequest(gw.url, get('//evil.example/x')));
  });

  it('a backslash path /\\evil.example/x is refused', async () => {
    expectRefused(await rawRequest(gw.url, get('/\\evil.example/x')));
  });

  it('an encoded //, /%2F%2Fevil.example/x, is refused', async () => {
    expectRefused(await rawRequest(gw.url, get('/%2F%2Fevil.example/x')));
  });

  it('an encoded backslash, /%5Cevil.example/x, is refused', async () => {
    expectRefused(await rawRequest(gw.url, get('/%5Cevil.example/x')));
  });

  it('CONNECT is refused and opens no tunnel', async () => {
    const r = await rawRequest(gw.url, `CONNECT 127.0.0.1:${catchAll.port} HTTP/1.1\r\nHost: 127.0.0.1:${catchAll.port}\r\n\r\n`);
    expect(r.status).toBe(400);
    expect(catchAll.connections).toBe(0);
    expect(catchAll.requests).toHaveLength(0);
  });

  it('an asterisk-form target (OPTIONS *) is refused', async () => {
    expectRefused(await rawRequest(gw.url, 'OPTIONS * HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n'));
  });
});

describe('ambiguous requests are refused with 400', () => {
  it('two Host headers', async () => {
    expectRefused(await rawRequest(gw.url, get('/x', 'Host: gateway.test\r\nHost: evil.example\r\n')));
  });

  it('Content-Length together with Transfer-Encoding (request smuggling)', async () => {
    const r = await rawRequest(
      gw.url,
      'POST /x HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /private/smuggled HTTP/1.1\r\nHost: gateway.test\r\n\r\n',
    );
    expect(r.status).toBe(400);
    expect(catchAll.requests).toHaveLength(0);
    expect(privateUp.requests).toHaveLength(0);
  });
});

describe('paths that would leave a route once the upstream decodes them are refused with 400', () => {
  it.each([
    ['/api/%2e%2e/admin', 'encoded dot-dot segment'],
    ['/api/%2E%2E/admin', 'upper-case encoded dot-dot'],
    ['/api/..%2fadmin', 'dot-dot with an encoded slash'],
    ['/public/%2e%2e%2fprivate', 'fully encoded ../'],
    ['/api/../private/x', 'plain dot-dot (node does not normalise it)'],
    ['/api/./x', 'a dot segment'],
    ['/api/%2e%2e', 'a trailing encoded dot-dot'],
    ['/api/x%5c..%5c..%5cprivate', 'encoded backslashes'],
    // Tomcat and Jetty drop ";params" before resolving dot segments, so "..;" climbs out like "..".
    ['/public/..;/private/x', 'dot-dot with a path parameter'],
    ['/public/%2e%2e;x=1/private/x', 'encoded dot-dot with a path parameter'],
  ])('%s (%s)', async (target) => {
    expectRefused(await rawRequest(gw.url, get(target)));
  });

  it('a NUL byte (%00) in the path', async () => {
    expectRefused(await rawRequest(gw.url, get('/api/file%00.txt')));
  });

  it.each([
    ['%0d%0a (encoded CR LF, header injection)', '/api/x%0d%0aSet-Cookie:%20a=b'],
    ['%1b (encoded escape)', '/api/x%1b[31m'],
    ['%7f (encoded DEL)', '/api/x%7f'],
  ])('an encoded control character: %s', async (_what, target) => {
    expectRefused(await rawRequest(gw.url, get(target)));
  });

  it.each([
    ['\\x01', '/api/a\x01b'],
    ['\\x7f', '/api/a\x7fb'],
    ['\\x1b', '/api/a\x1bb'],
  ])('a raw control character %s in the request line', async (_what, target) => {
    const r = await rawRequest(gw.url, Buffer.from(get(target), 'latin1'));
    expect(r.status).toBe(400);
    expect(catchAll.requests).toHaveLength(0);
    expect(privateUp.requests).toHaveLength(0);
  });

  it('a malformed percent-escape (%zz)', async () => {
    expectRefused(await rawRequest(gw.url, get('/api/%zz')));
  });
});

describe('routing uses the decoded path, forwarding the raw one', () => {
  it('/%70rivate/x goes to the /private/ route, not the catch-all', async () => {
    const r = await rawRequest(gw.url, get('/%70rivate/x'));
    expect(r.status).toBe(200);
    expect(privateUp.requests.map((q) => q.url)).toEqual(['/%70rivate/x']);
    expect(catchAll.requests).toHaveLength(0);
  });

  it('an encoded slash inside a segment stays encoded on the way upstream', async () => {
    const r = await rawRequest(gw.url, get('/api/files/a%2Fb'));
    expect(r.status).toBe(200);
    expect(catchAll.requests.map((q) => q.url)).toEqual(['/files/a%2Fb']);
  });
});
