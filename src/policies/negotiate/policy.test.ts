import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, gatewayWithPolicies, rawHeader, send } from '../../../test/helpers/gateway.js';
import type { Answer, TestUpstream } from '../../../test/helpers/upstream.js';
import { GatewayError } from '../../errors.js';
import { negotiate } from './accept.js';
import { fromXml, loadXml, toXml } from './xml.js';

beforeAll(loadXml);

afterEach(closeAll);
const last = (up: TestUpstream) => up.requests[up.requests.length - 1];

const SAMPLE = { id: 1, name: 'A & B <c>', tags: ['x', 'y'], gone: null, '2nd': true, nested: { n: 1.5, empty: '' } };
const SAMPLE_XML =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<response><id>1</id><name>A &amp; B &lt;c&gt;</name><tags><item>x</item><item>y</item></tags><gone nil="true"/>' +
  '<key name="2nd">true</key><nested><n>1.5</n><empty/></nested></response>';

/** Answers `body` as JSON (with an ETag), and records what it got. */
function json(body: unknown, headers: Record<string, string> = {}): Answer {
  return (_req, res) => {
    const b = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(b)), etag: '"v1"', ...headers });
    res.end(b);
  };
}

/** Answers with what it received, as JSON: content type, length header and the body text. */
const mirror: Answer = (_req, res, got) => {
  const body = JSON.stringify({ type: rawHeader(got.rawHeaders, 'content-type'), length: rawHeader(got.rawHeaders, 'content-length'), body: got.body.toString() });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
};

function caught(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    return e as GatewayError;
  }
  throw new Error('expected an error');
}

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol4;</lolz>`;
const XXE = '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo><a>&xxe;</a></foo>';

describe('negotiate: Accept (RFC 9110 §12.5.1)', () => {
  it('prefers JSON when the client does not prefer XML', () => {
    expect(negotiate(undefined)).toBe('application/json');
    expect(negotiate('')).toBe('application/json');
    expect(negotiate('*/*')).toBe('application/json');
    expect(negotiate('application/*')).toBe('application/json');
    expect(negotiate('application/json, application/xml')).toBe('application/json');
    expect(negotiate('application/json; version=2')).toBe('application/json');
  });

  it('answers XML when asked, honouring q-values and specificity', () => {
    expect(negotiate('application/xml')).toBe('application/xml');
    expect(negotiate('text/xml')).toBe('text/xml');
    expect(negotiate('text/*')).toBe('text/xml');
    expect(negotiate('application/json;q=0.5, application/xml')).toBe('application/xml');
    expect(negotiate('*/*;q=0.1, application/xml;q=0.9')).toBe('application/xml');
    // The most specific range decides: json is refused even though */* would allow it.
    expect(negotiate('application/json;q=0, */*')).toBe('application/xml');
    expect(negotiate('application/xml;q=0, */*')).toBe('application/json');
    expect(negotiate('application/xml;q=0.5, text/xml;q=0.5')).toBe('application/xml');
    // What browsers send when navigating: XML (q=0.9) beats */* (q=0.8), as the RFC says. fetch() sends */*.
    expect(negotiate('text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8')).toBe('application/xml');
  });

  it('finds nothing acceptable for other types, q=0 and other charsets', () => {
    expect(negotiate('text/html')).toBeUndefined();
    expect(negotiate('text/html')).toBeUndefined(); // remembered, same answer
    expect(negotiate(`text/html;a=${'x'.repeat(300)}`)).toBeUndefined(); // too long to remember, same answer
    expect(negotiate('image/png, text/html;q=0.9')).toBeUndefined();
    expect(negotiate('*/*;q=0')).toBeUndefined();
    expect(negotiate('application/json; charset=iso-8859-1')).toBeUndefined();
    expect(negotiate('application/json; charset=utf-8')).toBe('application/json');
  });

  it('ignores malformed members instead of failing on them', () => {
    expect(negotiate('garbage')).toBe('application/json');
    expect(negotiate('application/xml;q=2, text/html')).toBeUndefined();
    expect(negotiate('nonsense, application/xml')).toBe('application/xml');
  });
});

describe('negotiate: the XML shape', () => {
  it('writes objects as elements, arrays as <item>, null as nil, odd keys as <key name>', () => {
    expect(toXml(SAMPLE, 'response', 'item')).toBe(SAMPLE_XML);
  });

  it('escapes markup, keeps CR, replaces characters XML cannot carry, and escapes odd key names', () => {
    const x = toXml({ t: 'a\r\nb ]]> "q" \u0001 \ud800 😀', 'x y"<&>': 1, xmlns: 2 }, 'r', 'i');
    expect(x).toContain('<t>a&#13;\nb ]]&gt; "q" \uFFFD \uFFFD 😀</t>');
    expect(x).toContain('<key name="x y&quot;&lt;&amp;&gt;">1</key>');
    expect(x).toContain('<key name="xmlns">2</key>');
    // And what it writes reads back as written.
    expect(fromXml(x, 'i', true)).toEqual({ t: 'a\r\nb ]]> "q" \uFFFD \uFFFD 😀', 'x y"<&>': 1, xmlns: 2 });
  });

  it('handles scalars and arrays at the root, and nested arrays', () => {
    expect(toXml(42, 'response', 'item')).toContain('<response>42</response>');
    expect(toXml([[1, 2], []], 'response', 'item')).toContain('<response><item><item>1</item><item>2</item></item><item/></response>');
    expect(toXml({}, 'data', 'item')).toContain('<data/>');
  });

  it('reads its own shape back (strings by default, typed on request)', () => {
    expect(fromXml(SAMPLE_XML, 'item', false)).toEqual({ id: '1', name: 'A & B <c>', tags: ['x', 'y'], gone: null, '2nd': 'true', nested: { n: '1.5', empty: '' } });
    expect(fromXml(SAMPLE_XML, 'item', true)).toEqual({ ...SAMPLE, nested: { n: 1.5, empty: '' } });
  });

  it('reads entities, character references, CDATA and repeated elements', () => {
    const v = fromXml('<r><a>x &amp; &#65;&#x42; &lt;</a><b><![CDATA[<raw> &amp;]]></b><c>1</c><c>2</c><d>  keep  </d></r>', 'item', false);
    expect(v).toEqual({ a: 'x & AB <', b: '<raw> &amp;', c: ['1', '2'], d: '  keep  ' });
    expect(Object.getPrototypeOf(fromXml('<r><constructor>1</constructor><__proto__><polluted>1</polluted></__proto__></r>', 'item', false))).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses DTDs (billion laughs, external entities), undefined entities and broken XML with 400', () => {
    for (const bad of [BILLION_LAUGHS, XXE, '<a>&lol;</a>', '<a><b></a>', 'not xml', '<a/><b/>', '<a>text<b/></a>', '<a>&#0;</a>', '']) {
      const e = caught(() => fromXml(bad, 'item', false));
      expect(e).toBeInstanceOf(GatewayError);
      expect(e.status).toBe(400);
    }
    expect(caught(() => fromXml(BILLION_LAUGHS, 'item', false)).message).toMatch(/DOCTYPE/);
  });
});

describe('negotiate: answers through the gateway', () => {
  it('converts a JSON answer to XML for Accept: application/xml, with the right length, type, Vary and ETag', async () => {
    const { up, gw } = await gatewayWithPolicies(json(SAMPLE), ' [{ negotiate: {} }]');
    const r = await send(gw.url, { path: '/things', headers: { accept: 'application/xml' } });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(SAMPLE_XML);
    expect(r.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(r.headers['vary']).toBe('Accept');
    expect(r.headers['etag']).toBe('"v1-xml"');
    // The upstream is asked for plain JSON.
    expect(rawHeader(last(up).rawHeaders, 'accept')).toBe('application/json');
    expect(rawHeader(last(up).rawHeaders, 'accept-encoding')).toBe('identity');
    const t = await send(gw.url, { path: '/things', headers: { accept: 'text/html;q=0.9, text/xml' } });
    expect(t.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(t.body.toString()).toBe(SAMPLE_XML);
  });

  it('streams JSON unchanged to JSON clients, adding only Vary: Accept', async () => {
    const raw = '{ "spaced" : [1,2.50, "\\u00e9"] }';
    const { up, gw } = await gatewayWithPolicies(json(raw, { vary: 'Accept-Encoding' }), ' [{ negotiate: {} }]');
    for (const accept of [undefined, '*/*', 'application/json', 'application/xml;q=0.5, application/json']) {
      const r = await send(gw.url, { path: '/x', headers: accept ? { accept } : {} });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(raw);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['content-length']).toBe(String(Buffer.byteLength(raw)));
      expect(r.headers['etag']).toBe('"v1"');
      expect(r.headers['vary']).toBe('Accept-Encoding, Accept');
      // The client's Accept goes upstream as sent.
      expect(rawHeader(last(up).rawHeaders, 'accept')).toBe(accept);
    }
  });

  it('answers 406 in the catalogue shape before calling the upstream', async () => {
    const { up, gw } = await gatewayWithPolicies(json(SAMPLE), ' [{ negotiate: {} }]');
    const r = await send(gw.url, { path: '/x', headers: { accept: 'text/html, application/json;q=0' } });
    expect(r.status).toBe(406);
    expect(r.json()).toMatchObject({ code: 'TG_NOT_ACCEPTABLE' });
    expect(r.headers['vary']).toBe('Accept');
    expect(up.requests).toHaveLength(0);
  });

  it('passes non-JSON answers through untouched, and JSON larger than maxBodySize as JSON', async () => {
    const big = { data: 'z'.repeat(5000) };
    const { up, gw } = await gatewayWithPolicies(json(big), ' [{ negotiate: { maxBodySize: 1KiB } }]');
    const r = await send(gw.url, { headers: { accept: 'application/xml' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json()).toEqual(big);
    up.answer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('plain & simple');
    });
    const t = await send(gw.url, { headers: { accept: 'application/xml' } });
    expect(t.headers['content-type']).toBe('text/plain');
    expect(t.body.toString()).toBe('plain & simple');
  });

  it('converts JSON error answers too, and answers HEAD with the XML type', async () => {
    const { up, gw } = await gatewayWithPolicies((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end('{"title":"Not here"}');
    }, ' [{ negotiate: {} }]');
    const r = await send(gw.url, { headers: { accept: 'application/xml' } });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toContain('<response><title>Not here</title></response>');
    up.answer(json(SAMPLE));
    const h = await send(gw.url, { method: 'HEAD', headers: { accept: 'application/xml' } });
    expect(h.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(h.headers['content-length']).toBeUndefined();
  });

  it('revalidates an XML ETag against the upstream JSON one', async () => {
    const { up, gw } = await gatewayWithPolicies((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        return;
      }
      json(SAMPLE)(req, res, last(up));
    }, ' [{ negotiate: {} }]');
    const r = await send(gw.url, { headers: { accept: 'application/xml', 'if-none-match': '"v1-xml"' } });
    expect(r.status).toBe(304);
    expect(r.headers['etag']).toBe('"v1-xml"');
    // A JSON client holding the XML tag does not get a 304 for the JSON body.
    const j = await send(gw.url, { headers: { 'if-none-match': '"v1-xml"' } });
    expect(j.status).toBe(200);
  });
});

describe('negotiate: request bodies through the gateway', () => {
  async function post(body: string | Buffer, contentType: string | undefined, policy = '{}') {
    const { up, gw } = await gatewayWithPolicies(mirror, ` [{ negotiate: ${policy} }]`);
    const headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(body)) };
    if (contentType) headers['content-type'] = contentType;
    const r = await send(gw.url, { method: 'POST', path: '/items', headers, body });
    return { r, up };
  }

  it('sends XML bodies upstream as JSON with a correct Content-Length', async () => {
    const { r } = await post('<sprocket><teeth>5</teeth><pitch>6.5</pitch><tags><item>a</item></tags></sprocket>', 'application/xml', '{ typedValues: true }');
    expect(r.status).toBe(200);
    const got = r.json<{ type: string; length: string; body: string }>();
    expect(got.type).toBe('application/json');
    expect(JSON.parse(got.body)).toEqual({ teeth: 5, pitch: 6.5, tags: ['a'] });
    expect(got.length).toBe(String(Buffer.byteLength(got.body)));
  });

  it('sends urlencoded and multipart fields as JSON', async () => {
    const form = await post('teeth=5&name=a+b%21&tag=x&tag=y', 'application/x-www-form-urlencoded');
    expect(JSON.parse(form.r.json<{ body: string }>().body)).toEqual({ teeth: '5', name: 'a b!', tag: ['x', 'y'] });
    const boundary = 'XyZ123';
    const mp = [`--${boundary}`, 'Content-Disposition: form-data; name="teeth"', '', '5', `--${boundary}`, 'Content-Disposition: form-data; name="name"', '', 'größe', `--${boundary}--`, ''].join('\r\n');
    const multi = await post(mp, `multipart/form-data; boundary=${boundary}`);
    expect(multi.r.status).toBe(200);
    const got = multi.r.json<{ type: string; body: string }>();
    expect(got.type).toBe('application/json');
    expect(JSON.parse(got.body)).toEqual({ teeth: '5', name: 'größe' });
  });

  it('refuses multipart files with 415 by default, sends them as base64 when configured', async () => {
    const boundary = 'b0und';
    const mp = [`--${boundary}`, 'Content-Disposition: form-data; name="doc"; filename="a.txt"', 'Content-Type: text/plain', '', 'hello', `--${boundary}--`, ''].join('\r\n');
    const refused = await post(mp, `multipart/form-data; boundary=${boundary}`);
    expect(refused.r.status).toBe(415);
    expect(refused.r.json()).toMatchObject({ code: 'TG_UNSUPPORTED_MEDIA_TYPE' });
    expect(refused.up.requests).toHaveLength(0);
    const b64 = await post(mp, `multipart/form-data; boundary=${boundary}`, '{ files: base64 }');
    expect(JSON.parse(b64.r.json<{ body: string }>().body)).toEqual({ doc: { filename: 'a.txt', type: 'text/plain', size: 5, base64: Buffer.from('hello').toString('base64') } });
  });

  it('passes JSON bodies through byte for byte', async () => {
    const raw = '{ "a" : 1.50 }';
    const { r } = await post(raw, 'application/json; charset=utf-8');
    expect(r.json<{ body: string; type: string }>()).toMatchObject({ body: raw, type: 'application/json; charset=utf-8' });
  });

  it('refuses billion laughs and XXE with 400 without calling the upstream', async () => {
    for (const body of [BILLION_LAUGHS, XXE]) {
      const { r, up } = await post(body, 'text/xml');
      expect(r.status).toBe(400);
      expect(r.json()).toMatchObject({ code: 'TG_BAD_REQUEST' });
      expect(r.body.toString()).not.toContain('lollol');
      expect(r.body.toString()).not.toContain('root:');
      expect(up.requests).toHaveLength(0);
    }
  });

  it('answers 400 for broken bodies, 415 for other media types, 413 past maxBodySize', async () => {
    const broken = await post('<a><b></a>', 'application/xml');
    expect(broken.r.status).toBe(400);
    expect(broken.r.json<{ error: string }>().error).toMatch(/not well-formed/);
    const badUtf8 = await post(Buffer.from([0x61, 0x3d, 0xff]), 'application/x-www-form-urlencoded');
    expect(badUtf8.r.status).toBe(400);
    const text = await post('hello', 'text/plain');
    expect(text.r.status).toBe(415);
    expect(text.r.json()).toMatchObject({ code: 'TG_UNSUPPORTED_MEDIA_TYPE' });
    expect(text.up.requests).toHaveLength(0);
    const none = await post('hello', undefined);
    expect(none.r.status).toBe(415);
    const big = await post(`<a>${'x'.repeat(2000)}</a>`, 'application/xml', '{ maxBodySize: 1KiB }');
    expect(big.r.status).toBe(413);
  });

  it('leaves bodies alone with request: false, and requests alone with response: false', async () => {
    const { r } = await post('hello', 'text/plain', '{ request: false }');
    expect(r.json<{ body: string }>().body).toBe('hello');
    const { gw, up } = await gatewayWithPolicies(json(SAMPLE), ' [{ negotiate: { response: false } }]');
    const x = await send(gw.url, { headers: { accept: 'text/html' } });
    expect(x.status).toBe(200);
    expect(x.headers['vary']).toBeUndefined();
    expect(up.requests).toHaveLength(1);
  });
});

describe('negotiate with cache', () => {
  it('never serves the XML variant to a JSON client, nor the JSON one to an XML client', async () => {
    const { up, gw } = await gatewayWithPolicies(json(SAMPLE, { 'cache-control': 'max-age=60' }), ' [{ cache: {} }, { negotiate: {} }]');
    const x1 = await send(gw.url, { path: '/c', headers: { accept: 'application/xml' } });
    expect(x1.body.toString()).toBe(SAMPLE_XML);
    const j1 = await send(gw.url, { path: '/c' });
    expect(j1.headers['content-type']).toBe('application/json');
    expect(j1.json()).toEqual(SAMPLE);
    expect(up.requests).toHaveLength(2);
    // Both variants are now cached, each for its own Accept.
    const x2 = await send(gw.url, { path: '/c', headers: { accept: 'application/xml' } });
    const j2 = await send(gw.url, { path: '/c' });
    expect(x2.headers['x-cache']).toBe('HIT');
    expect(x2.body.toString()).toBe(SAMPLE_XML);
    expect(j2.headers['x-cache']).toBe('HIT');
    expect(j2.json()).toEqual(SAMPLE);
    expect(up.requests).toHaveLength(2);
    const bad = await send(gw.url, { path: '/c', headers: { accept: 'text/html' } });
    expect(bad.status).toBe(406);
    expect(up.requests).toHaveLength(2);
  });

  it('keeps concurrent XML and JSON clients of one cold URL apart (a waiter never takes the other variant)', async () => {
    const slow: Answer = (req, res, got) => setTimeout(() => json(SAMPLE, { 'cache-control': 'max-age=60' })(req, res, got), 150);
    const { gw } = await gatewayWithPolicies(slow, ' [{ cache: {} }, { negotiate: {} }]');
    const asks = ['application/xml', 'application/json', 'application/xml', '*/*', 'text/xml'];
    const answers = await Promise.all(asks.map((accept) => send(gw.url, { path: '/cold', headers: { accept } })));
    answers.forEach((r, i) => {
      expect(r.status).toBe(200);
      if (asks[i].endsWith('xml')) {
        expect(r.headers['content-type']).toBe(`${asks[i]}; charset=utf-8`);
        expect(r.body.toString()).toBe(SAMPLE_XML);
      } else {
        expect(r.headers['content-type']).toBe('application/json');
        expect(r.json()).toEqual(SAMPLE);
      }
    });
  });
});

describe('negotiate ahead of validate and cache (priority 850)', () => {
  it('converts bodies before validate checks them', async () => {
    const { up, gw } = await gatewayWithPolicies(mirror, `
      - validate:
          body:
            required: [name, count]
            properties: { name: { type: string, minLength: 1 }, count: { type: integer } }
      - negotiate: { priority: 850, typedValues: true }`);
    const ok = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/xml' }, body: '<r><name>a</name><count>2</count></r>' });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.json<{ body: string }>().body)).toEqual({ name: 'a', count: 2 });
    const bad = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/xml' }, body: '<r><name>a</name><count>two</count></r>' });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'TG_VALIDATION_FAILED' });
    expect(up.requests).toHaveLength(1);
  });

  it('converts cache hits on the way out: one JSON entry serves both kinds of client', async () => {
    const { up, gw } = await gatewayWithPolicies(json(SAMPLE, { 'cache-control': 'max-age=60' }), ' [{ cache: {} }, { negotiate: { priority: 850 } }]');
    const x1 = await send(gw.url, { path: '/c', headers: { accept: 'application/xml' } });
    expect(x1.body.toString()).toBe(SAMPLE_XML);
    const x2 = await send(gw.url, { path: '/c', headers: { accept: 'application/xml' } });
    expect(x2.headers['x-cache']).toBe('HIT');
    expect(x2.body.toString()).toBe(SAMPLE_XML);
    expect(x2.headers['content-length']).toBe(String(x2.body.length));
    const j = await send(gw.url, { path: '/c', headers: { accept: 'application/json' } });
    expect(j.headers['content-type']).toBe('application/json');
    expect(j.json()).toEqual(SAMPLE);
    expect(up.requests).toHaveLength(1);
  });
});
