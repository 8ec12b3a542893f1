import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, gatewayWithPolicies, rawHeader, send, startTestGateway } from '../../../test/helpers/gateway.js';
import { closedPort, echo } from '../../../test/helpers/upstream.js';
import type { TestUpstream } from '../../../test/helpers/upstream.js';

afterEach(closeAll);

const SECRET = 's3cr3t-Value/with+chars';
const last = (up: TestUpstream) => up.requests[up.requests.length - 1];

function withCredentials(options: string, env: NodeJS.ProcessEnv = {}, logs = false) {
  return gatewayWithPolicies(echo, `\n      - credentials: ${options}`, { env: { UPSTREAM_SECRET: SECRET, ...env }, logs });
}

describe('credentials reach the upstream, never the client', () => {
  it('sets headers and a fixed User-Agent, replacing what the client sent', async () => {
    const { up, gw } = await withCredentials('{ headers: { X-Api-Key: "${UPSTREAM_SECRET}" }, userAgent: "MyOrg/1.0 +https://example.org" }');
    const r = await send(gw.url, { path: '/x', headers: { 'x-api-key': 'client-value', 'user-agent': 'curl/8' } });
    expect(r.status).toBe(200);
    expect(rawHeader(last(up).rawHeaders, 'x-api-key')).toBe(SECRET);
    expect(rawHeader(last(up).rawHeaders, 'user-agent')).toBe('MyOrg/1.0 +https://example.org');
    expect(r.body.toString()).not.toContain('client-value');
  });

  it('appends a query parameter, drops the client one of the same name, keeps the rest byte for byte', async () => {
    const { up, gw } = await withCredentials('{ query: { api_key: "${UPSTREAM_SECRET}" } }');
    await send(gw.url, { path: '/search?q=a%20b+c&api_key=forged&x=%E2%82%AC' });
    expect(last(up).url).toBe(`/search?q=a%20b+c&x=%E2%82%AC&api_key=${encodeURIComponent(SECRET)}`);
    await send(gw.url, { path: '/plain' });
    expect(last(up).url).toBe(`/plain?api_key=${encodeURIComponent(SECRET)}`);
  });

  it('sends Bearer, Basic and custom Authorization schemes and drops the client Authorization', async () => {
    let { up, gw } = await withCredentials('{ bearer: "${UPSTREAM_SECRET}" }');
    await send(gw.url, { path: '/', headers: { authorization: 'Bearer client-token' } });
    expect(rawHeader(last(up).rawHeaders, 'authorization')).toBe(`Bearer ${SECRET}`);

    ({ up, gw } = await withCredentials('{ basic: { username: svc, password: "${UPSTREAM_SECRET}" } }'));
    await send(gw.url, { path: '/' });
    expect(rawHeader(last(up).rawHeaders, 'authorization')).toBe(`Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`);

    ({ up, gw } = await withCredentials('{ authorization: { scheme: Discogs, param: token, token: "${UPSTREAM_SECRET}" } }'));
    await send(gw.url, { path: '/' });
    expect(rawHeader(last(up).rawHeaders, 'authorization')).toBe(`Discogs token=${SECRET}`);
  });

  it("keeps the client's Authorization when the route injects none, unless told to drop it", async () => {
    let { up, gw } = await withCredentials('{ query: { key: "${UPSTREAM_SECRET}" } }');
    await send(gw.url, { path: '/', headers: { authorization: 'Bearer mine' } });
    expect(rawHeader(last(up).rawHeaders, 'authorization')).toBe('Bearer mine');

    ({ up, gw } = await withCredentials('{ query: { key: "${UPSTREAM_SECRET}" }, dropClientAuthorization: true }'));
    await send(gw.url, { path: '/', headers: { authorization: 'Bearer mine' } });
    expect(rawHeader(last(up).rawHeaders, 'authorization')).toBeUndefined();
  });
});

describe('form fields', () => {
  it('are added to a streamed urlencoded body, replacing a client field of the same name', async () => {
    const { up, gw } = await withCredentials('{ form: { token: "${UPSTREAM_SECRET}" } }');
    const body = 'year=2018&token=forged&note=caf%C3%A9+au+lait';
    const r = await send(gw.url, { method: 'POST', path: '/f', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: [Buffer.from(body.slice(0, 10)), Buffer.from(body.slice(10))] });
    expect(r.status).toBe(200);
    expect(last(up).body.toString()).toBe(`year=2018&note=caf%C3%A9+au+lait&token=${encodeURIComponent(SECRET)}`);
    expect(rawHeader(last(up).rawHeaders, 'content-length')).toBe(String(last(up).body.length));
  });

  it('make a form body for a body-less POST and leave JSON bodies alone', async () => {
    const { up, gw } = await withCredentials('{ form: { token: "${UPSTREAM_SECRET}" } }');
    await send(gw.url, { method: 'POST', path: '/f' });
    expect(last(up).body.toString()).toBe(`token=${encodeURIComponent(SECRET)}`);
    expect(rawHeader(last(up).rawHeaders, 'content-type')).toBe('application/x-www-form-urlencoded');
    await send(gw.url, { method: 'POST', path: '/f', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(last(up).body.toString()).toBe('{"a":1}');
  });

  it('refuse a urlencoded body larger than maxFormBody with 413, before the upstream sees it', async () => {
    const { up, gw } = await withCredentials('{ form: { token: "${UPSTREAM_SECRET}" }, maxFormBody: 1KiB }');
    const r = await send(gw.url, { method: 'POST', path: '/f', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=' + 'x'.repeat(4000) });
    expect(r.status).toBe(413);
    expect(up.requests).toHaveLength(0);
  });
});

describe('secrets stay secret', () => {
  it('never reach the access log or an error body', async () => {
    const port = await closedPort();
    const gw = await startTestGateway(
      `
upstreams:
  app: { url: "http://127.0.0.1:${port}" }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - credentials: { query: { api_key: "\${UPSTREAM_SECRET}" }, headers: { x-key: "\${OTHER}" }, form: { token: "\${UPSTREAM_SECRET}" } }
`,
      { env: { UPSTREAM_SECRET: SECRET, OTHER: 'another-secret-value' }, logs: true },
    );
    const r = await send(gw.url, { method: 'POST', path: `/x?echo=1`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect(r.status).toBe(502);
    await new Promise((res) => setTimeout(res, 50));
    const everything = r.body.toString() + JSON.stringify(r.headers) + JSON.stringify(gw.logs);
    expect(gw.logs.length).toBeGreaterThan(0);
    for (const s of [SECRET, encodeURIComponent(SECRET), 'another-secret-value']) expect(everything).not.toContain(s);
  });

  it('are not quoted in config errors', async () => {
    const err = await startTestGateway(
      `
upstreams:
  app: { url: "http://127.0.0.1:9" }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - credentials: { headers: { x-key: "\${BAD}" } }
`,
      { env: { BAD: 'line1-secret\r\nInjected: yes' } },
    ).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toContain('line break');
    expect(String((err as Error).message)).not.toContain('line1-secret');
  });
});
