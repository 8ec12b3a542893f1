import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../../../test/helpers/gateway.js';
import { startUpstream } from '../../../test/helpers/upstream.js';
import { contentDisposition } from './filename.js';

afterEach(closeAll);

async function gatewayWith(status = 200) {
  const up = await startUpstream((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/zip' });
    res.end('PK');
  });
  const gw = await startTestGateway(`
upstreams:
  app: { url: "${up.url}" }
routes:
  - match: { pattern: /files/:kind }
    upstream: app
    policies:
      - to-post: {}
      - download: { filename: "NetMetr-{kind}-{year}-{month:02}.zip" }
`);
  return gw;
}

describe('download', () => {
  it('names the file from route params and the client query, zero-padded', async () => {
    const gw = await gatewayWith();
    const r = await send(gw.url, { path: '/files/opendata?year=2018&month=3' });
    expect(r.headers['content-disposition']).toBe('attachment; filename=NetMetr-opendata-2018-03.zip');
  });

  it('only names successful responses', async () => {
    const gw = await gatewayWith(500);
    const r = await send(gw.url, { path: '/files/opendata?year=2018&month=3' });
    expect(r.headers['content-disposition']).toBeUndefined();
  });

  it('cannot be used to inject header syntax or paths', async () => {
    const gw = await gatewayWith();
    const r = await send(gw.url, { path: '/files/x?year=%22%3B%20x%3D..%2F..%2Fetc&month=1' });
    expect(r.headers['content-disposition']).toBe('attachment; filename="NetMetr-x-_; x=.._.._etc-01.zip"');
  });

  it('quotes names with spaces and adds filename* for non-ASCII (RFC 6266)', () => {
    expect(contentDisposition('attachment', 'a b.zip')).toBe('attachment; filename="a b.zip"');
    expect(contentDisposition('inline', 'résumé.pdf')).toBe(`inline; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`);
  });
});
