import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startUpstream } from './helpers/upstream.js';
import { rawRequest, startTestGateway } from './helpers/gateway.js';

afterEach(closeAll);

describe('Expect: 100-continue', () => {
  it('a body declared over the limit gets 413 without a 100 Continue first, so the client never uploads it', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(`upstreams: { app: { url: "${up.url}" } }\nroutes: [{ match: { prefix: / }, upstream: app, maxBodySize: 1KiB }]\n`);
    const r = await rawRequest(gw.url, `POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n`);
    expect(r.status).toBe(413);
    expect(r.body).toContain('"code":"TG_BODY_TOO_LARGE"');
    expect(up.requests).toHaveLength(0);
  });

  it('a request with no route gets 404 without a 100 Continue first', async () => {
    const gw = await startTestGateway(`routes: [{ match: { path: /only }, respond: { status: 200 } }]\n`);
    const r = await rawRequest(gw.url, `PUT /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n`);
    expect(r.status).toBe(404);
  });
});
