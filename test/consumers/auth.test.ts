/**
 * The auth policy through the real gateway: every credential kind, every failure status, what the upstream
 * gets (consumer id, no credentials), revocation and suspension noticed within a second.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/index.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

const KEY = 'demo-key-0123456789';
const APP_KEY = 'pair-app-key-012345';
const USER_KEY = 'user-key-0123456789';
const OTHER_KEY = 'other-service-key-01';
const PASSWORD = 'correct horse battery';

interface Seen {
  url: string;
  headers: Record<string, string>;
}

let dir: string;
let store: Store;
let jwks: { url: string; close(): void; sign(claims: Record<string, unknown>): Promise<string> };

async function startJwks() {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  return {
    url,
    close: () => server.close(),
    sign: (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://idp.test').setIssuedAt().setExpirationTime('5m').sign(privateKey),
  };
}

function config(upstream: string, db: string): string {
  return `
store: "sqlite:${db}"
limits: { refresh: 100ms, usageFlush: 100ms }
upstreams: { app: { url: "${upstream}" } }
services:
  books: {}
  music: {}
plans:
  free: { limits: { hits: [{ per: day, max: 1000 }] } }
  anon: { limits: { hits: [{ per: day, max: 1000 }] } }
applications:
  - { id: demo, plan: free, keys: ["${KEY}"] }
  - { id: pair, plan: free, appKeys: ["${APP_KEY}"] }
  - { id: uk, plan: free, userKeys: ["${USER_KEY}"] }
  - { id: other, plan: free, service: music, keys: ["${OTHER_KEY}"] }
users:
  - { username: alice, password: "${PASSWORD}", application: demo }
  - { username: bob, password: "${PASSWORD}" }
routes:
  - name: private
    match: { prefix: /private/ }
    upstream: app
    policies:
      - auth:
          service: books
          apiKey: { header: x-api-key, query: api_key, bearer: true }
          appId: {}
          userKey: {}
          basic: {}
          jwt: { jwksUrl: "${jwks.url}", issuer: "https://idp.test", plan: free }
          failedAttempts: { max: 5 }
  - name: public
    match: { prefix: /public/ }
    upstream: app
    policies:
      - auth: { apiKey: {}, anonymous: anon }
  - name: forwarding
    match: { prefix: /fwd/ }
    upstream: app
    policies:
      - auth: { apiKey: { query: api_key }, forwardCredentials: true, consumerHeader: x-app }
`;
}

let up: TestUpstream;
let gw: TestGateway;
const seen: Seen[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-auth-'));
  jwks = await startJwks();
});
afterAll(async () => {
  jwks.close();
  rmSync(dir, { recursive: true, force: true });
});

async function boot(): Promise<void> {
  seen.length = 0;
  up = await startUpstream((req, res) => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i].toLowerCase()] = req.rawHeaders[i + 1];
    seen.push({ url: req.url ?? '', headers });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  const db = join(dir, `t${Date.now()}${Math.random().toString(36).slice(2)}.db`);
  gw = await startTestGateway(config(up.url, db));
  store = await openStore(`sqlite:${db}`);
}

afterEach(async () => {
  await store?.close();
  await closeAll();
});

const get = (path: string, headers: Record<string, string> = {}) => send(gw.url, { path, headers });
const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

/** Retries until `fn` holds or 1 s has passed (the directory polls every 100 ms here). */
async function within1s(fn: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fn();
}

describe('auth: each way of presenting credentials', () => {
  it('an API key in the configured header is accepted, removed, and the upstream learns the consumer', async () => {
    await boot();
    const r = await get('/private/x', { 'x-api-key': KEY });
    expect(r.status).toBe(200);
    expect(seen[0].headers['x-api-key']).toBeUndefined();
    expect(seen[0].headers['x-consumer-id']).toBe('demo');
  });

  it('an API key in the query is accepted and removed from the upstream URL, other parameters kept', async () => {
    await boot();
    const r = await get(`/private/x?a=1&api_key=${KEY}&b=2`);
    expect(r.status).toBe(200);
    expect(seen[0].url).toBe('/private/x?a=1&b=2');
  });

  it('an API key as a Bearer token is accepted', async () => {
    await boot();
    expect((await get('/private/x', { authorization: `Bearer ${KEY}` })).status).toBe(200);
    expect(seen[0].headers['authorization']).toBeUndefined();
  });

  it('app_id + app_key (query or headers) identify the application', async () => {
    await boot();
    expect((await get(`/private/x?app_id=pair&app_key=${APP_KEY}`)).status).toBe(200);
    expect((await get('/private/x', { 'app-id': 'pair', 'app-key': APP_KEY })).status).toBe(200);
    expect(seen.map((s) => s.headers['x-consumer-id'])).toEqual(['pair', 'pair']);
    expect(seen[0].url).toBe('/private/x');
    expect((await get('/private/x?app_id=demo&app_key=' + APP_KEY)).status).toBe(401);
  });

  it('a user_key identifies its application', async () => {
    await boot();
    expect((await get(`/private/x?user_key=${USER_KEY}`)).status).toBe(200);
    expect(seen[0].headers['x-consumer-id']).toBe('uk');
  });

  it('Basic with a user of an application passes as that application; a wrong password gets 401', async () => {
    await boot();
    expect((await get('/private/x', basic('alice', PASSWORD))).status).toBe(200);
    expect(seen[0].headers['x-consumer-id']).toBe('demo');
    expect(seen[0].headers['authorization']).toBeUndefined();
    const bad = await get('/private/x', basic('alice', 'wrong password'));
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toContain('Basic realm="tollgate"');
  });

  it('Basic with a user of no application gets 403', async () => {
    await boot();
    expect((await get('/private/x', basic('bob', PASSWORD))).status).toBe(403);
  });

  it('a JWT signed by the JWKS key passes; its subject becomes the consumer', async () => {
    await boot();
    const token = await jwks.sign({ sub: 'partner-42' });
    expect((await get('/private/x', { authorization: `Bearer ${token}` })).status).toBe(200);
    expect(seen[0].headers['x-consumer-id']).toBe('partner-42');
  });

  it('a JWT whose subject is an application gets that application', async () => {
    await boot();
    expect((await get('/private/x', { authorization: `Bearer ${await jwks.sign({ sub: 'demo' })}` })).status).toBe(200);
    expect(seen[0].headers['x-consumer-id']).toBe('demo');
  });

  it('a JWT from another issuer or tampered with gets 401 with error="invalid_token"', async () => {
    await boot();
    const token = await jwks.sign({ sub: 'x' });
    const [h, , s] = token.split('.');
    const tampered = [h, Buffer.from(JSON.stringify({ sub: 'admin', iss: 'https://idp.test' })).toString('base64url'), s].join('.');
    const r = await get('/private/x', { authorization: `Bearer ${tampered}` });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('without credentials on an anonymous route, the request passes as anonymous', async () => {
    await boot();
    expect((await get('/public/x')).status).toBe(200);
    expect(seen[0].headers['x-consumer-id']).toBe('anonymous');
    expect((await get('/public/x', { 'x-api-key': 'wrong-key-123456' })).status).toBe(401);
  });

  it('forwardCredentials keeps the key and consumerHeader renames the header', async () => {
    await boot();
    expect((await get(`/fwd/x?api_key=${KEY}`)).status).toBe(200);
    expect(seen[0].url).toBe(`/fwd/x?api_key=${KEY}`);
    expect(seen[0].headers['x-app']).toBe('demo');
  });
});

describe('auth: failures', () => {
  it('missing credentials: 401 with a challenge per method and the JSON error', async () => {
    await boot();
    const r = await get('/private/x');
    expect(r.status).toBe(401);
    expect(r.json()).toMatchObject({ code: 'TG_UNAUTHORIZED', error: 'Missing credentials.' });
    expect(r.headers['www-authenticate']).toMatch(/ApiKey realm="tollgate".*Bearer realm="tollgate".*Basic realm="tollgate"/);
    expect(seen).toHaveLength(0);
  });

  it('a wrong key: 401, and the key never appears in the answer', async () => {
    await boot();
    const r = await get('/private/x', { 'x-api-key': 'not-a-key-but-long' });
    expect(r.status).toBe(401);
    expect(r.body.toString()).not.toContain('not-a-key-but-long');
  });

  it('a client cannot claim a consumer id: its X-Consumer-Id is replaced', async () => {
    await boot();
    await get('/private/x', { 'x-api-key': KEY, 'x-consumer-id': 'admin' });
    expect(seen[0].headers['x-consumer-id']).toBe('demo');
  });

  it('an application bound to another service: 403', async () => {
    await boot();
    const r = await get('/private/x', { 'x-api-key': OTHER_KEY });
    expect(r.status).toBe(403);
    expect(r.json()).toMatchObject({ code: 'TG_FORBIDDEN' });
  });

  it('too many failed attempts from one IP: 429, even with a valid key, until the window ends', async () => {
    await boot();
    for (let i = 0; i < 5; i++) expect((await get('/private/x', { 'x-api-key': `wrong-key-number-${i}` })).status).toBe(401);
    // The 5th failure is counted asynchronously; give it a moment.
    expect(await within1s(async () => (await get('/private/x', { 'x-api-key': KEY })).status === 429)).toBe(true);
    const r = await get('/private/x', { 'x-api-key': KEY });
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('auth: changes in the store reach the gateway within a second', () => {
  it('a revoked key stops working within 1 s', async () => {
    await boot();
    const created = await store.createCredential('demo', { kind: 'api_key' });
    const key = created.secret!;
    expect((await get('/private/x', { 'x-api-key': key })).status).toBe(200);
    await store.revokeCredential(created.credential.id);
    expect(await within1s(async () => (await get('/private/x', { 'x-api-key': key })).status === 401)).toBe(true);
    expect((await get('/private/x', { 'x-api-key': KEY })).status).toBe(200);
  });

  it('a suspended application gets 403 within 1 s, and works again when resumed', async () => {
    await boot();
    expect((await get('/private/x', { 'x-api-key': KEY })).status).toBe(200);
    await store.updateApplication('demo', { state: 'suspended' });
    expect(await within1s(async () => (await get('/private/x', { 'x-api-key': KEY })).status === 403)).toBe(true);
    expect((await get('/private/x', { 'x-api-key': KEY })).json()).toMatchObject({ error: 'This application is suspended.' });
    await store.updateApplication('demo', { state: 'active' });
    expect(await within1s(async () => (await get('/private/x', { 'x-api-key': KEY })).status === 200)).toBe(true);
  });

  it('a key created after a failed attempt with it works at once (the negative cache is cleared)', async () => {
    await boot();
    const secret = 'fresh-key-0123456789';
    expect((await get('/private/x', { 'x-api-key': secret })).status).toBe(401);
    await store.createCredential('demo', { kind: 'api_key', secret });
    expect(await within1s(async () => (await get('/private/x', { 'x-api-key': secret })).status === 200)).toBe(true);
  });
});
