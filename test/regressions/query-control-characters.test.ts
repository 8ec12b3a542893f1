/**
 * Control characters in the query, encoded (`%01`, `%0d%0a`, `%7f`) or raw, are refused with 400 in the
 * catalogue's shape before any upstream sees them, as they already are in the path; a listener option allows them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, rawRequest, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

afterEach(closeAll);

async function gateway(listen = '') {
  const up = await startUpstream();
  const gw = await startTestGateway(`${listen}\nupstreams: { app: { url: "${up.url}" } }\nroutes: [{ match: { prefix: / }, upstream: app }]\n`);
  return { up, gw };
}

describe('control characters in the query', () => {
  it.each(['/x?a=%01', '/x?a=%0d%0aX-Injected:%201', '/x?a=%0D%0A', '/x?a=1&b=%7F', '/x?%00', '/x?a=%1f'])('%s is refused with 400', async (path) => {
    const { up, gw } = await gateway();
    const r = await send(gw.url, { path });
    expect(r.status).toBe(400);
    const body = r.json();
    expect(body).toMatchObject({ code: 'TG_BAD_PATH', requestId: r.headers['x-request-id'] });
    expect(String(body.error)).toMatch(/query/);
    expect(up.requests).toHaveLength(0);
  });

  it('a raw control character in the query is refused with 400 too', async () => {
    const { up, gw } = await gateway();
    const r = await rawRequest(gw.url, 'GET /x?a=\x01b HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(400);
    expect(up.requests).toHaveLength(0);
  });

  it('ordinary encoded characters pass unchanged', async () => {
    const { up, gw } = await gateway();
    const r = await send(gw.url, { path: '/x?a=%20b&c=%2F&d=%C3%A9&e=%25&f=%7e' });
    expect(r.status).toBe(200);
    expect(up.requests[0].url).toBe('/x?a=%20b&c=%2F&d=%C3%A9&e=%25&f=%7e');
  });

  it('listen.allowQueryControlChars: true lets them through as sent', async () => {
    const { up, gw } = await gateway('listen: { allowQueryControlChars: true }');
    const r = await send(gw.url, { path: '/x?a=%01&b=%0d%0a' });
    expect(r.status).toBe(200);
    expect(up.requests[0].url).toBe('/x?a=%01&b=%0d%0a');
  });
});
