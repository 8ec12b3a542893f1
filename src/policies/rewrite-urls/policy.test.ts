import { gzipSync, brotliCompressSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, gatewayWithPolicies, rawHeader, send } from '../../../test/helpers/gateway.js';
import type { Answer } from '../../../test/helpers/upstream.js';

afterEach(closeAll);

const PUBLIC = 'https://gw.example.org';

function gatewayWith(answer: Answer, options = '{}', logs = false) {
  return gatewayWithPolicies(answer, `\n      - rewrite-urls: ${options}`, { top: `publicUrl: ${PUBLIC}`, logs });
}

const json = (body: string | Buffer, headers: Record<string, string> = {}): Answer => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.end(body);
};

describe('rewrite-urls in JSON bodies', () => {
  it('rewrites every upstream URL in string values, escaped slashes too, and leaves everything else byte for byte', async () => {
    let origin = '';
    const { gw, up } = await gatewayWith((_req, res, _got) => {
      const body = `{"id": 12345678901234567890, "resource_url": "${origin}/releases/1",\n "pagination": {"urls": {"next": "${origin}/search?q=a&page=2"}},\n "escaped": "${origin.replace(/\//g, '\\/')}\\/x", "text": "see ${origin}/a and ${origin}.evil.com/b", "other": "https://elsewhere.example/x", "caf\u00e9": 1.50}`;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', etag: '"abc"' });
      res.end(body);
    });
    origin = up.url;
    const r = await send(gw.url, { path: '/releases/1' });
    const text = r.body.toString();
    expect(text).toBe(
      `{"id": 12345678901234567890, "resource_url": "${PUBLIC}/releases/1",\n "pagination": {"urls": {"next": "${PUBLIC}/search?q=a&page=2"}},\n "escaped": "${PUBLIC}\\/x", "text": "see ${PUBLIC}/a and ${origin}.evil.com/b", "other": "https://elsewhere.example/x", "caf\u00e9": 1.50}`,
    );
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(r.headers['etag']).toBe('W/"abc"');
    expect(rawHeader(up.requests[0].rawHeaders, 'accept-encoding')).toBe('identity');
  });

  it('decodes gzip and br bodies from upstreams that compress anyway', async () => {
    let origin = '';
    let coding = 'gzip';
    const { gw, up } = await gatewayWith((_req, res) => {
      const plain = Buffer.from(JSON.stringify({ resource_url: `${origin}/r/1` }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding });
      res.end(coding === 'gzip' ? gzipSync(plain) : brotliCompressSync(plain));
    });
    origin = up.url;
    for (const c of ['gzip', 'br']) {
      coding = c;
      const r = await send(gw.url, { path: '/r/1', headers: { 'accept-encoding': 'gzip, br' } });
      expect(r.headers['content-encoding'], c).toBeUndefined();
      expect(r.json(), c).toEqual({ resource_url: `${PUBLIC}/r/1` });
      expect(r.headers['content-length']).toBe(String(r.body.length));
    }
  });

  it('maps other upstream origins to paths under the public URL', async () => {
    const { gw } = await gatewayWith(json(JSON.stringify({ image: 'https://i.example.com/R-1.jpeg' })), '{ map: [{ from: "https://i.example.com", to: /image }] }');
    const r = await send(gw.url, { path: '/' });
    expect(r.json()).toEqual({ image: `${PUBLIC}/image/R-1.jpeg` });
  });

  it("rewrites a service's own origin listed next to its configured one, the same origin twice included", async () => {
    const { gw } = await gatewayWith(
      json(JSON.stringify({ own: 'https://api.example.com/r/1', img: 'https://i.example.com/x.jpeg' }), { link: '<https://api.example.com/p?page=2>; rel="next"' }),
      '{ from: ["https://api.example.com", "https://api.example.com/"], map: [{ from: "https://i.example.com", to: /image }, { from: "https://i.example.com", to: /other }] }',
    );
    const r = await send(gw.url, { path: '/' });
    expect(r.json()).toEqual({ own: `${PUBLIC}/r/1`, img: `${PUBLIC}/image/x.jpeg` });
    expect(r.headers.link).toBe(`<${PUBLIC}/p?page=2>; rel="next"`);
  });

  it('can take the base from the request (Host) instead of publicUrl', async () => {
    let origin = '';
    const { gw, up } = await gatewayWith((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ u: `${origin}/a` }));
    }, '{ to: forwarded }');
    origin = up.url;
    const r = await send(gw.url, { path: '/', headers: { host: 'client-facing.test:8443' } });
    expect(r.json()).toEqual({ u: 'http://client-facing.test:8443/a' });
  });
});

describe('rewrite-urls in headers and other bodies', () => {
  it('rewrites Location, Content-Location and Link', async () => {
    let origin = '';
    const { gw, up } = await gatewayWith((_req, res) => {
      res.writeHead(302, { location: `${origin}/next?x=1`, 'content-location': `${origin}/here`, link: `<${origin}/p?page=2>; rel="next", <https://other.test/x>; rel="help"` });
      res.end();
    });
    origin = up.url;
    const r = await send(gw.url, { path: '/' });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe(`${PUBLIC}/next?x=1`);
    expect(r.headers['content-location']).toBe(`${PUBLIC}/here`);
    expect(r.headers.link).toBe(`<${PUBLIC}/p?page=2>; rel="next", <https://other.test/x>; rel="help"`);
  });

  it('replaces text in HTML bodies', async () => {
    let origin = '';
    const { gw, up } = await gatewayWith((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=iso-8859-1' });
      res.end(Buffer.concat([Buffer.from(`<a href="${origin}/x">`), Buffer.from([0xe9]), Buffer.from('</a>')]));
    });
    origin = up.url;
    const r = await send(gw.url, { path: '/' });
    expect(r.body).toEqual(Buffer.concat([Buffer.from(`<a href="${PUBLIC}/x">`), Buffer.from([0xe9]), Buffer.from('</a>')]));
  });

  it('streams binary bodies untouched, even when they contain the upstream URL', async () => {
    let origin = '';
    const payload = () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from(`${origin}/x`), Buffer.alloc(200_000, 7)]);
    const { gw, up } = await gatewayWith((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.end(payload());
    });
    origin = up.url;
    const r = await send(gw.url, { path: '/img.jpeg' });
    expect(r.body.equals(payload())).toBe(true);
  });

  it('passes bodies over maxBodySize through unchanged, with a warning', async () => {
    let origin = '';
    let chunked = false;
    const big = () => JSON.stringify({ u: `${origin}/a`, pad: 'x'.repeat(5000) });
    const { gw, up } = await gatewayWith(
      (_req, res) => {
        res.writeHead(200, chunked ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(big())) });
        if (chunked) {
          const b = big();
          res.write(b.slice(0, 3000));
          setTimeout(() => res.end(b.slice(3000)), 10);
        } else res.end(big());
      },
      '{ maxBodySize: 4KiB }',
      true,
    );
    origin = up.url;
    for (const c of [false, true]) {
      chunked = c;
      const r = await send(gw.url, { path: '/' });
      expect(r.body.toString(), `chunked=${c}`).toBe(big());
    }
    expect(gw.logs.filter((l) => String(l.msg).includes('larger than maxBodySize'))).toHaveLength(2);
  });
});
