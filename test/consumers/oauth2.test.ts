/**
 * The OAuth2 provider beyond the example: scopes required by routes, the client's application's limits,
 * HTTPS for authentication (after trusted proxies), and revocation seen by another instance within a second.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { awayFromMinuteBoundary } from '../helpers/clock.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';

let dir: string | undefined;
afterEach(async () => {
  await closeAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const SECRET = 'the-client-secret-1';

function config(store: string, extra: { requireHttps?: boolean; trusted?: boolean; tls?: { cert: string; key: string } } = {}): string {
  const tls = extra.tls ? `, tls: { cert: "${extra.tls.cert}", key: "${extra.tls.key}" }` : '';
  return `
listen: { trustedProxies: [${extra.trusted ? '"127.0.0.1"' : ''}]${tls} }
store: "${store}"
limits: { refresh: 100ms }
oauth2:
  requireHttps: ${extra.requireHttps ?? true}
plans:
  tiny: { limits: { hits: [{ per: minute, max: 3 }] } }
applications:
  - id: app-one
    plan: tiny
    oauth2Clients:
      - { id: web, secret: "${SECRET}", scopes: [read, write] }
users:
  - { username: bob, password: "bob-password-1" }
routes:
  - name: read
    match: { path: /read }
    respond: { status: 200, json: { ok: read } }
    policies: [{ auth: { oauth2: { scopes: [read], requireHttps: ${extra.requireHttps ?? true} } } }, rate-limit]
  - name: write
    match: { path: /write }
    respond: { status: 200, json: { ok: write } }
    policies: [{ auth: { oauth2: { scopes: [write] } } }]
`;
}

function tmpStore(): string {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-oauth2-'));
  return `sqlite:${join(dir, 'o.db')}`;
}

const basic = `Basic ${Buffer.from(`web:${SECRET}`).toString('base64')}`;

async function token(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const r = await send(url, {
    method: 'POST',
    path: '/oauth2/token/',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: r.status, json: JSON.parse(r.body.toString()) as Record<string, string> };
}

describe('OAuth2 access tokens on routes', () => {
  it('a route asks for scopes: a token without them gets 403 insufficient_scope', async () => {
    const gw = await startTestGateway(config(tmpStore()));
    const t = await token(gw.url, { grant_type: 'client_credentials', scope: 'read' });
    expect(t.status).toBe(200);
    const bearer = { authorization: `Bearer ${t.json.access_token}` };
    expect((await send(gw.url, { path: '/read', headers: bearer })).status).toBe(200);
    const w = await send(gw.url, { path: '/write', headers: bearer });
    expect(w.status).toBe(403);
    expect(w.headers['www-authenticate']).toContain('error="insufficient_scope"');
    const both = await token(gw.url, { grant_type: 'client_credentials' });
    expect(both.json.scope).toBe('read write');
    expect((await send(gw.url, { path: '/write', headers: { authorization: `Bearer ${both.json.access_token}` } })).status).toBe(200);
  });

  it("counts against the client's application: its plan's limit applies to every grant's tokens together", async () => {
    await awayFromMinuteBoundary();
    const gw = await startTestGateway(config(tmpStore()));
    const user = await token(gw.url, { grant_type: 'password', username: 'bob', password: 'bob-password-1' });
    const cc = await token(gw.url, { grant_type: 'client_credentials' });
    const codes: number[] = [];
    for (const t of [user, cc, user, cc]) codes.push((await send(gw.url, { path: '/read', headers: { authorization: `Bearer ${t.json.access_token}` } })).status);
    expect(codes).toEqual([200, 200, 200, 429]);
  });

  it('two concurrent refreshes with one refresh token: exactly one gets a new grant', async () => {
    const gw = await startTestGateway(config(tmpStore()));
    const t = await token(gw.url, { grant_type: 'password', username: 'bob', password: 'bob-password-1' });
    const both = await Promise.all([0, 1].map(() => token(gw.url, { grant_type: 'refresh_token', refresh_token: t.json.refresh_token })));
    expect(both.map((r) => r.status).sort()).toEqual([200, 400]);
    expect(both.find((r) => r.status === 400)?.json.error).toBe('invalid_grant');
    const winner = both.find((r) => r.status === 200)!;
    expect((await send(gw.url, { path: '/read', headers: { authorization: `Bearer ${winner.json.access_token}` } })).status).toBe(200);
  });

  it('a token revoked on one instance is refused by another within a second', async () => {
    const store = tmpStore();
    const a = await startTestGateway(config(store));
    const b = await startTestGateway(config(store));
    const t = await token(a.url, { grant_type: 'password', username: 'bob', password: 'bob-password-1' });
    const bearer = { authorization: `Bearer ${t.json.access_token}` };
    expect((await send(b.url, { path: '/read', headers: bearer })).status).toBe(200);
    const r = await send(a.url, {
      method: 'POST',
      path: '/oauth2/revoke/',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${t.json.access_token}`,
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({});
    expect((await send(a.url, { path: '/read', headers: bearer })).status).toBe(401);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 3000) {
      status = (await send(b.url, { path: '/read', headers: bearer })).status;
      if (status === 200) await new Promise((res) => setTimeout(res, 50));
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('token endpoint brute force', () => {
  it('wrong passwords and client secrets from one IP get 429 past oauth2.failedAttempts.max', async () => {
    await awayFromMinuteBoundary();
    const yaml = config(tmpStore()).replace('oauth2:\n', 'oauth2:\n  failedAttempts: { max: 3, per: minute }\n');
    const gw = await startTestGateway(yaml);
    const wrongPassword = await token(gw.url, { grant_type: 'password', username: 'bob', password: 'not-bobs-password' });
    expect(wrongPassword).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    const wrongSecret = await token(gw.url, { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('web:wrong-secret').toString('base64')}` });
    expect(wrongSecret.status).toBe(401);
    expect((await token(gw.url, { grant_type: 'password', username: 'bob', password: 'bob-password-1' })).status).toBe(200);
    expect((await token(gw.url, { grant_type: 'password', username: 'nobody', password: 'whatever-1' })).status).toBe(400);
    // The third failure closed the window for this IP: even a right password now waits.
    const blocked = await token(gw.url, { grant_type: 'password', username: 'bob', password: 'bob-password-1' });
    expect(blocked.status).toBe(429);
    expect(blocked.json.error).toBe('invalid_request');
  });
});

describe('HTTPS for authentication', () => {
  const remote = { 'x-forwarded-for': '203.0.113.7' };

  it('refuses token requests and bearer calls over plain HTTP from a client that is not on loopback', async () => {
    const gw = await startTestGateway(config(tmpStore(), { trusted: true }));
    const plain = await token(gw.url, { grant_type: 'client_credentials' }, remote);
    expect(plain.status).toBe(400);
    expect(plain.json).toMatchObject({ error: 'invalid_request' });
    const viaTls = await token(gw.url, { grant_type: 'client_credentials' }, { ...remote, 'x-forwarded-proto': 'https' });
    expect(viaTls.status).toBe(200);
    const bearer = { authorization: `Bearer ${viaTls.json.access_token}` };
    expect((await send(gw.url, { path: '/read', headers: { ...bearer, ...remote } })).status).toBe(403);
    expect((await send(gw.url, { path: '/read', headers: { ...bearer, ...remote, 'x-forwarded-proto': 'https' } })).status).toBe(200);
    // Loopback clients may use plain HTTP.
    expect((await send(gw.url, { path: '/read', headers: bearer })).status).toBe(200);
  });

  it('believes X-Forwarded-Proto only from a trusted proxy', async () => {
    const gw = await startTestGateway(config(tmpStore(), { trusted: false }));
    // Not trusted: the forwarded headers are ignored, the client is the loopback peer itself.
    expect((await token(gw.url, { grant_type: 'client_credentials' }, { ...remote, 'x-forwarded-proto': 'http' })).status).toBe(200);
  });

  it('can be turned off', async () => {
    const gw = await startTestGateway(config(tmpStore(), { trusted: true, requireHttps: false }));
    const t = await token(gw.url, { grant_type: 'client_credentials' }, remote);
    expect(t.status).toBe(200);
    expect((await send(gw.url, { path: '/read', headers: { authorization: `Bearer ${t.json.access_token}`, ...remote } })).status).toBe(200);
  });
});

describe('TLS termination', () => {
  it('serves the token endpoint and bearer calls over HTTPS; a TLS connection counts as HTTPS for remote clients', async () => {
    const store = tmpStore();
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir!, 'key.pem'), '-out', join(dir!, 'cert.pem'),
    ], { stdio: 'ignore' });
    const gw = await startTestGateway(config(store, { trusted: true, tls: { cert: join(dir!, 'cert.pem'), key: join(dir!, 'key.pem') } }));
    expect(gw.url).toMatch(/^https:\/\//);
    const dispatcher = new Agent({ connect: { ca: readFileSync(join(dir!, 'cert.pem')) } });
    try {
      // A client behind the (trusted) proxy, without X-Forwarded-Proto: the TLS connection itself is HTTPS.
      const remote = { 'x-forwarded-for': '203.0.113.7' };
      const t = await request(`${gw.url}/oauth2/token/`, {
        method: 'POST',
        dispatcher,
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', ...remote },
        body: 'grant_type=client_credentials',
      });
      expect(t.statusCode).toBe(200);
      const json = (await t.body.json()) as Record<string, string>;
      const r = await request(`${gw.url}/read`, { dispatcher, headers: { authorization: `Bearer ${json.access_token}`, ...remote } });
      expect(r.statusCode).toBe(200);
      expect(await r.body.json()).toEqual({ ok: 'read' });
    } finally {
      await dispatcher.close();
    }
  });

  it('names the file it cannot read', async () => {
    await expect(startTestGateway(config(tmpStore(), { tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } }))).rejects.toThrow(/listen\.tls\.cert: cannot read \/nonexistent\/cert\.pem/);
  });
});
