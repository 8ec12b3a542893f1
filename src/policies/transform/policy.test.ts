import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, rawHeader, send, startTestGateway } from '../../../test/helpers/gateway.js';
import { echo, startUpstream } from '../../../test/helpers/upstream.js';

afterEach(closeAll);

describe('transform', () => {
  it('renames, removes and sets headers and query parameters; the rest of the query is kept as sent', async () => {
    const up = await startUpstream(echo);
    const gw = await startTestGateway(`
upstreams:
  app: { url: "${up.url}" }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - transform:
          headers: { rename: { x-old: x-new }, remove: [x-drop, Cookie], set: { x-version: "2" } }
          query: { rename: { q: query }, remove: [debug], set: { format: json } }
`);
    const r = await send(gw.url, { path: '/s?q=a%20b&debug=1&x=%E2%82%AC&format=xml', headers: { 'x-old': 'v', 'x-drop': '1', cookie: 'c=1', 'x-version': '1' } });
    expect(r.status).toBe(200);
    const got = up.requests[0];
    expect(got.url).toBe('/s?query=a%20b&x=%E2%82%AC&format=json');
    expect(rawHeader(got.rawHeaders, 'x-new')).toBe('v');
    expect(rawHeader(got.rawHeaders, 'x-old')).toBeUndefined();
    expect(rawHeader(got.rawHeaders, 'x-drop')).toBeUndefined();
    expect(rawHeader(got.rawHeaders, 'cookie')).toBeUndefined();
    expect(rawHeader(got.rawHeaders, 'x-version')).toBe('2');
  });

  it('refuses to touch headers the gateway manages, at config time', async () => {
    const err = await startTestGateway(`
upstreams:
  app: { url: "http://127.0.0.1:9" }
routes:
  - match: { prefix: / }
    upstream: app
    policies: [{ transform: { headers: { remove: [content-length] } } }]
`).catch((e: Error) => e);
    expect(String(err)).toContain('content-length is managed by the gateway');
  });
});
