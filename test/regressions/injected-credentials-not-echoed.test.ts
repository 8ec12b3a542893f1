/**
 * Credentials a route injects (credentials, oauth1) never reach the client, even when the upstream reflects
 * them: in the body (plain, percent-encoded, JSON-escaped, split across chunks, gzip'd) or in any response
 * header. Masking keeps lengths, so bodies still stream and Content-Length stays right.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, gatewayWithPolicies, rawHeader, send } from '../helpers/gateway.js';
import type { Answer } from '../helpers/upstream.js';

afterEach(closeAll);

const SECRET = 'UPSTREAM-SECRET/with+chars "q"';
const KEY = 'query-key-0123456789';
const TOKEN = 'discogs-personal-token-42';
const env = { UPSTREAM_SECRET: SECRET, QUERY_KEY: KEY, DISCOGS_TOKEN: TOKEN };
const FORMS = (s: string) => [s, encodeURIComponent(s), JSON.stringify(s).slice(1, -1)];

/** Echoes what it received (url and headers) three ways, in several chunks. */
const reflect: Answer = (req, res) => {
  const seen = `${req.url} ${JSON.stringify(req.headers)}`;
  const parts = [`plain: ${seen}\n`, `encoded: ${encodeURIComponent(seen)}\n`, `json: ${JSON.stringify({ seen })}\n`];
  const body = Buffer.from(parts.join(''));
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
  // Odd-sized pieces, so secrets straddle chunk boundaries.
  let i = 0;
  const next = () => {
    if (i >= body.length) return res.end();
    res.write(body.subarray(i, i + 7));
    i += 7;
    setImmediate(next);
  };
  next();
};

function credentialsRoute(answer: Answer, extra = '') {
  return gatewayWithPolicies(answer, `\n      - credentials: { bearer: "\${UPSTREAM_SECRET}", query: { api_key: "\${QUERY_KEY}" }${extra} }`, { env });
}

function expectClean(text: string, secrets: string[]) {
  for (const s of secrets) for (const f of FORMS(s)) expect(text).not.toContain(f);
}

describe('injected credentials echoed by the upstream', () => {
  it('are masked in a streamed body, in every spelling, with Content-Length kept', async () => {
    const { up, gw } = await credentialsRoute(reflect);
    const r = await send(gw.url, { path: '/echo?a=1' });
    expect(r.status).toBe(200);
    // The upstream did get them, and did reflect them.
    expect(rawHeader(up.requests[0].rawHeaders, 'authorization')).toBe(`Bearer ${SECRET}`);
    const body = r.body.toString();
    expect(body).toContain('plain: /echo?a=1&api_key=');
    expect(body).toContain('"authorization":"Bearer ****');
    expectClean(body, [SECRET, KEY]);
    expect(r.headers['content-length']).toBe(String(r.body.length));
  });

  it('are masked in Location, Set-Cookie, WWW-Authenticate and custom headers, which stay', async () => {
    const { gw } = await gatewayWithPolicies(
      (_req, res) => {
        res.writeHead(302, [
          ['location', `/x?token=${encodeURIComponent(TOKEN)}&page=2`],
          ['set-cookie', `sid=${TOKEN}; Path=/`],
          ['set-cookie', 'other=1'],
          ['www-authenticate', `Discogs realm="api", token="${TOKEN}"`],
          ['x-debug-auth', `Discogs token=${TOKEN}`],
          ['content-length', '0'],
        ].flat());
        res.end();
      },
      '\n      - credentials: { authorization: { scheme: Discogs, param: token, token: "${DISCOGS_TOKEN}" }, userAgent: "Test/1.0" }',
      { env },
    );
    const r = await send(gw.url, { path: '/r' });
    expect(r.status).toBe(302);
    const masked = '*'.repeat(TOKEN.length);
    expect(r.headers.location).toBe(`/x?token=${masked}&page=2`);
    expect(r.headers['set-cookie']).toEqual([`sid=${masked}; Path=/`, 'other=1']);
    expect(r.headers['www-authenticate']).toBe(`Discogs realm="api", token="${masked}"`);
    expect(r.headers['x-debug-auth']).toBe(`Discogs token=${masked}`);
    expect(JSON.stringify(r.rawHeaders)).not.toContain(TOKEN);
  });

  it('are masked in a gzip body the upstream sent although asked for identity', async () => {
    const { up, gw } = await credentialsRoute((_req, res) => {
      const z = gzipSync(`{"echo":"${KEY}"}`);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(z.length), etag: '"v1"' });
      res.end(z);
    });
    const r = await send(gw.url, { path: '/z', headers: { 'accept-encoding': 'gzip' } });
    expect(rawHeader(up.requests[0].rawHeaders, 'accept-encoding')).toBe('identity');
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers.etag).toBe('W/"v1"');
    expect(r.body.toString()).toBe(`{"echo":"${'*'.repeat(KEY.length)}"}`);
  });

  it('oauth1: the token echoed back is masked', async () => {
    const { gw } = await gatewayWithPolicies(
      (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ youSent: req.headers.authorization }));
      },
      '\n      - oauth1: { consumerKey: ck, consumerSecret: "consumer-secret-1", token: "oauth-token-0123456789", tokenSecret: "token-secret-1", signature: PLAINTEXT }',
    );
    const r = await send(gw.url, { path: '/o' });
    expect(r.body.toString()).toContain('oauth_token=\\"**********************\\"');
    expectClean(r.body.toString(), ['oauth-token-0123456789', 'consumer-secret-1', 'token-secret-1']);
  });

  it('a large body still streams: the first bytes arrive before the upstream finishes', async () => {
    let finish: () => void = () => undefined;
    const { gw } = await credentialsRoute((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(256 * 1024, 0x61));
      // The upstream only ends once the client has seen bytes: a gateway that buffered would hang here.
      finish = () => res.end(`tail ${KEY}`);
    });
    const got = await new Promise<string>((resolve, reject) => {
      const u = new URL(gw.url);
      const timer = setTimeout(() => reject(new Error('no bytes within 3 s: the body was buffered')), 3000);
      request({ host: u.hostname, port: u.port, path: '/big' }, (res) => {
        const chunks: Buffer[] = [];
        res.once('data', () => {
          clearTimeout(timer);
          finish();
        });
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      })
        .on('error', reject)
        .end();
    });
    expect(got.length).toBe(256 * 1024 + 5 + KEY.length);
    expect(got.endsWith(`tail ${'*'.repeat(KEY.length)}`)).toBe(true);
  });

  it('scrubResponseBody: false passes the body unread (headers are still masked)', async () => {
    const { gw } = await credentialsRoute((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-echo': KEY });
      res.end(`binary ${KEY}`);
    }, ', scrubResponseBody: false');
    const r = await send(gw.url, { path: '/bin' });
    expect(r.body.toString()).toBe(`binary ${KEY}`);
    expect(r.headers['x-echo']).toBe('*'.repeat(KEY.length));
  });

  it('with map-errors and rewrite-urls (the Discogs chain): an error body quoting the token is mapped, rewritten and masked', async () => {
    const { up, gw } = await gatewayWithPolicies(
      (req, res) => {
        if (req.url === '/bad') {
          res.writeHead(401, { 'content-type': 'text/plain' });
          return res.end(`ERROR: token ${TOKEN} is not valid`);
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ resource_url: `http://${req.headers.host}/releases/1`, you: req.headers.authorization }));
      },
      `
      - credentials: { authorization: { scheme: Discogs, param: token, token: "\${DISCOGS_TOKEN}" } }
      - rewrite-urls: {}
      - map-errors: [{ when: { status: 401, bodyMatches: "^ERROR: (.+)$" }, respond: { status: 502, json: { error: "$1" } } }]`,
      { env },
    );
    const bad = await send(gw.url, { path: '/bad' });
    expect(bad.status).toBe(502);
    expect(bad.json()).toEqual({ error: `token ${'*'.repeat(TOKEN.length)} is not valid` });
    expect(bad.headers['content-length']).toBe(String(bad.body.length));
    const ok = await send(gw.url, { path: '/ok' });
    expect(ok.json().you).toBe(`Discogs token=${'*'.repeat(TOKEN.length)}`);
    expect(ok.json().resource_url).toMatch(/\/releases\/1$/);
    expect(ok.json().resource_url).not.toContain(up.url);
    expect(up.requests).toHaveLength(2);
  });

  it('a body that ends with the first bytes of a secret arrives whole (the held-back tail is flushed)', async () => {
    const tail = `done ${SECRET.slice(0, 6)}`;
    const { gw } = await credentialsRoute((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(tail)) });
      res.end(tail);
    });
    const r = await send(gw.url, { path: '/tail' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(tail);
  });

  it('a route without credentials is untouched', async () => {
    const { up, gw } = await gatewayWithPolicies(reflect, ' []');
    const r = await send(gw.url, { path: `/echo?api_key=${KEY}`, headers: { authorization: `Bearer ${SECRET}`, 'accept-encoding': 'gzip' } });
    expect(rawHeader(up.requests[0].rawHeaders, 'accept-encoding')).toBe('gzip');
    expect(r.body.toString()).toContain(`Bearer ${JSON.stringify(SECRET).slice(1, -1)}`);
    expect(r.body.toString()).toContain(KEY);
  });
});
