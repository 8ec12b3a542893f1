/**
 * examples/oauth2.yaml as a user runs it, driven by real OAuth2 client libraries from npm (oauth4webapi,
 * simple-oauth2), and by replaying the exact requests those libraries sent (shared/fixtures/client-requests,
 * oauth-*.jsonl), checking each answer carries what the library parses.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oauth from 'oauth4webapi';
import { ClientCredentials, ResourceOwnerPassword } from 'simple-oauth2';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';

const EXAMPLE = fileURLToPath(new URL('../examples/oauth2.yaml', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/client-requests/', import.meta.url));
const CLIENT = 'demo-client';
const SECRET = 'demo-secret/+1';
const PUBLIC_CLIENT = 'demo-spa';
const USER = 'alice';
const PASSWORD = 'wonderland';

let dir: string | undefined;
afterEach(async () => {
  await closeAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function boot() {
  const up = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'tollgate-oauth2-'));
  const env = {
    ...process.env,
    OAUTH_CLIENT_ID: CLIENT,
    OAUTH_CLIENT_SECRET: SECRET,
    OAUTH_PUBLIC_CLIENT_ID: PUBLIC_CLIENT,
    DEMO_USER: USER,
    DEMO_PASSWORD: PASSWORD,
    UPSTREAM_URL: up.url,
    TOLLGATE_STORE: `sqlite:${join(dir, 'oauth2.db')}`,
  };
  return { gw: await startTestGateway('', { configFile: EXAMPLE, env }), up };
}

async function ping(url: string, token?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const r = await send(url, { path: '/api/ping', headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, body: r.body.toString(), headers: r.headers };
}

describe('examples/oauth2.yaml with oauth4webapi', () => {
  it('password, refresh, client_credentials, introspection and revocation', async () => {
    const { gw, up } = await boot();
    const as: oauth.AuthorizationServer = {
      issuer: gw.url,
      token_endpoint: `${gw.url}/oauth2/token/`,
      revocation_endpoint: `${gw.url}/oauth2/revoke/`,
      introspection_endpoint: `${gw.url}/oauth2/introspect/`,
    };
    const client: oauth.Client = { client_id: CLIENT };
    // oauth4webapi form-urlencodes the id and secret before base64 (RFC 6749 §2.3.1): "demo%2Dsecret%2F%2B1".
    const auth = oauth.ClientSecretBasic(SECRET);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the library's marker for plain-HTTP test servers: the gateway under test listens on loopback without TLS
    const opts = { [oauth.allowInsecureRequests]: true };

    const first = await oauth.processGenericTokenEndpointResponse(
      as,
      client,
      await oauth.genericTokenEndpointRequest(as, client, auth, 'password', { username: USER, password: PASSWORD }, opts),
    );
    expect(first).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'read write' });
    expect(first.refresh_token).toMatch(/^tgr_/);
    const pinged = await oauth.protectedResourceRequest(first.access_token, 'GET', new URL(`${gw.url}/api/ping`), undefined, undefined, opts);
    expect(pinged.status).toBe(200);
    expect(await pinged.json()).toEqual({ pong: true });

    // /api/… goes upstream with the consumer named and the token removed.
    const fwd = await send(gw.url, { path: '/api/things', headers: { authorization: `Bearer ${first.access_token}` } });
    expect(fwd.status).toBe(200);
    expect(up.requests).toHaveLength(1);
    const sent = up.requests[0].rawHeaders.map((h, i) => (i % 2 === 0 ? h.toLowerCase() : h));
    expect(sent).not.toContain('authorization');
    expect(sent[sent.indexOf('x-consumer-id') + 1]).toBe('demo-app');

    // The refresh token rotates; the grant it replaces stops working at once.
    const second = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, first.refresh_token!, opts));
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await ping(gw.url, first.access_token)).status).toBe(401);
    expect((await ping(gw.url, second.access_token)).status).toBe(200);
    const reused = await oauth.refreshTokenGrantRequest(as, client, auth, first.refresh_token!, opts);
    await expect(oauth.processRefreshTokenResponse(as, client, reused)).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });

    const cc = await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'read' }, opts));
    expect(cc).toMatchObject({ token_type: 'bearer', scope: 'read' });
    expect(cc.refresh_token).toBeUndefined();
    // A client_credentials token is another (client, no user) pair: the user's token stays valid.
    expect((await ping(gw.url, second.access_token)).status).toBe(200);

    const info = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, second.access_token, opts));
    expect(info).toMatchObject({ active: true, client_id: CLIENT, username: USER, scope: 'read write', token_type: 'Bearer' });

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, second.access_token, opts));
    const after = await ping(gw.url, second.access_token);
    expect(after.status).toBe(401);
    expect(after.headers['www-authenticate']).toContain('error="invalid_token"');
    const gone = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, second.access_token, opts));
    expect(gone.active).toBe(false);

    const wrong = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('wrong-secret'), {}, opts);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await wrong.clone().json()).toMatchObject({ error: 'invalid_client' });
    // oauth4webapi reports a 401 by its parsed challenge.
    await expect(oauth.processClientCredentialsResponse(as, client, wrong)).rejects.toMatchObject({ status: 401, cause: [{ scheme: 'basic' }] });
  });
});

describe('examples/oauth2.yaml with simple-oauth2', () => {
  const config = (url: string, secret = SECRET) => ({
    client: { id: CLIENT, secret },
    auth: { tokenHost: url, tokenPath: '/oauth2/token/', revokePath: '/oauth2/revoke/' },
  });

  it('password grant with the default scopes, refresh, revoke; errors as simple-oauth2 reports them', async () => {
    const { gw } = await boot();
    const rop = new ResourceOwnerPassword(config(gw.url));
    const token = await rop.getToken({ username: USER, password: PASSWORD });
    expect(token.token).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
    expect((await ping(gw.url, token.token.access_token as string)).status).toBe(200);
    expect((await ping(gw.url)).status).toBe(401);
    expect((await ping(gw.url, 'tgo_not-a-token-we-issued')).status).toBe(401);

    const refreshed = await token.refresh();
    expect((await ping(gw.url, token.token.access_token as string)).status).toBe(401);
    expect((await ping(gw.url, refreshed.token.access_token as string)).status).toBe(200);
    await refreshed.revoke('access_token');
    expect((await ping(gw.url, refreshed.token.access_token as string)).status).toBe(401);

    await expect(rop.getToken({ username: USER, password: 'not-the-password' })).rejects.toMatchObject({ output: { statusCode: 400 }, data: { payload: { error: 'invalid_grant' } } });
    await expect(rop.getToken({ username: USER, password: PASSWORD, scope: 'admin' })).rejects.toMatchObject({ data: { payload: { error: 'invalid_scope' } } });
    const cc = new ClientCredentials(config(gw.url, 'wrong-secret'));
    await expect(cc.getToken({})).rejects.toMatchObject({ output: { statusCode: 401 }, data: { payload: { error: 'invalid_client' } } });
  });

  it('a public client gets a token with its id alone (JSON body too), and no refresh token', async () => {
    const { gw } = await boot();
    const r = await fetch(`${gw.url}/oauth2/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', client_id: PUBLIC_CLIENT, username: USER, password: PASSWORD }),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read write' });
    expect(body.refresh_token).toBeUndefined();
    expect((await ping(gw.url, body.access_token as string)).status).toBe(200);
    const cc = await fetch(`${gw.url}/oauth2/token/`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: PUBLIC_CLIENT }) });
    expect(cc.status).toBe(400);
    expect(await cc.json()).toMatchObject({ error: 'unauthorized_client' });
  });
});

interface Captured {
  client: string;
  method: string;
  url: string;
  rawHeaders: string[];
  body: string;
}

function replay(base: string, c: Captured, body: string, rawHeaders: string[]): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const u = new URL(base);
  const headers: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === 'host') headers.push(rawHeaders[i], u.host);
    else if (name === 'content-length') headers.push(rawHeaders[i], String(Buffer.byteLength(body, 'latin1')));
    else if (name !== 'accept-encoding') headers.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: c.method, path: c.url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(c.method === 'GET' ? undefined : Buffer.from(body, 'latin1'));
  });
}

describe('replayed requests of the OAuth2 client libraries', () => {
  // The flow of both captures: password grant, calls, refresh, client_credentials, wrong password, bogus
  // refresh token, wrong client secret, revocation, a call after revocation.
  for (const [file, expected] of [
    ['oauth-oauth4webapi.jsonl', [200, 200, 200, 200, 200, 200, 200, 400, 400, 401, 200, 401]],
    ['oauth-simple-oauth2.jsonl', [200, 200, 401, 200, 200, 200, 200, 400, 400, 401, 200, 401]],
  ] as const) {
    it(`${file}: each answer is what the library parses`, async () => {
      const { gw } = await boot();
      const lines = readFileSync(join(FIXTURES, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Captured);
      expect(lines).toHaveLength(expected.length);
      let access = '';
      let refresh = '';
      let refreshes = 0;
      const statuses: number[] = [];
      for (const c of lines) {
        let body = c.body;
        if (body.includes('grant_type=refresh_token')) body = body.replace('<token>', refreshes++ === 0 ? refresh : 'tgr_bogus-refresh-token-value');
        else body = body.replace('<token>', access);
        const rawHeaders = c.rawHeaders.map((h) => h.replace('<access token>', access));
        const r = await replay(gw.url, c, body, rawHeaders);
        statuses.push(r.status);
        if (c.url.startsWith('/oauth2/')) {
          // Every answer of these endpoints, errors included, is JSON the library can read.
          expect(r.headers['content-type']).toBe('application/json');
          expect(r.headers['cache-control']).toBe('no-store');
          const json = JSON.parse(r.text) as Record<string, unknown>;
          if (r.status === 200 && c.url === '/oauth2/token/') {
            expect(json).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
            expect(typeof json.scope).toBe('string');
            access = json.access_token as string;
            if (json.refresh_token) refresh = json.refresh_token as string;
          } else if (c.url === '/oauth2/revoke/') {
            expect(json).toEqual({});
          } else {
            expect(typeof json.error).toBe('string');
            if (r.status === 401) expect(r.headers['www-authenticate']).toMatch(/^Basic realm=/);
          }
        } else if (r.status === 200) {
          expect(JSON.parse(r.text)).toEqual({ pong: true });
        } else {
          expect(r.headers['www-authenticate']).toMatch(/Bearer realm=/);
        }
      }
      expect(statuses).toEqual(expected);
    });
  }
});
