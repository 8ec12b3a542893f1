/**
 * Scopes on API keys and `auth.scopes` per method, through a real gateway on a real SQLite file: a key with
 * the scope passes, one without gets 403 naming the scope (never the key), a key without scopes keeps full
 * access, OAuth2 tokens are held to the same rule, and a scope change by `tollgate sync` or the CLI is seen
 * within a second by a running gateway.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/cli.js';

const READ_KEY = 'reader-key-0123456789';
const WRITE_KEY = 'writer-key-0123456789';
const OLD_KEY = 'unscoped-key-0123456789';
const CLIENT_SECRET = 'client-secret-0123456789';

const root = mkdtempSync(join(tmpdir(), 'tg-scopes-'));
let file: string;
let gw: TestGateway;
let jwks: { url: string; server: Server; sign(claims: Record<string, unknown>): Promise<string> };

async function startJwks(): Promise<typeof jwks> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    server,
    sign: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('someone').setIssuedAt().setExpirationTime('5m').sign(privateKey),
  };
}

function config(db: string, readerScopes = '[read]', writerScopes = '[read, write]'): string {
  return `
store: "sqlite:${db}"
limits: { refresh: 100ms }
plans: { p: {}, anon: {} }
applications:
  - { id: reader, plan: p, keys: [{ key: "${READ_KEY}", scopes: ${readerScopes} }] }
  - { id: writer, plan: p, keys: [{ key: "${WRITE_KEY}", scopes: ${writerScopes} }] }
  - { id: old, plan: p, keys: ["${OLD_KEY}"] }
  - id: tokens
    plan: p
    oauth2Clients: [{ id: web, secret: "${CLIENT_SECRET}", scopes: [read, write] }]
oauth2: {}
routes:
  - name: books
    match: { prefix: /books }
    respond: { status: 200, json: { ok: true } }
    policies: [{ auth: { apiKey: {}, oauth2: {}, scopes: { GET: [read], "*": [write] } } }]
  - name: open
    match: { prefix: /open }
    respond: { status: 200, json: { ok: true } }
    policies: [{ auth: { apiKey: {}, anonymous: anon, scopes: { POST: [write] } } }]
  - name: jwt
    match: { prefix: /jwt }
    respond: { status: 200, json: { ok: true } }
    policies: [{ auth: { jwt: { jwksUrl: "${jwks.url}", plan: p }, scopes: { GET: [read], "*": [write] } } }]
`;
}

async function call(method: string, path: string, headers: Record<string, string> = {}) {
  const r = await send(gw.url, { method, path, headers: { 'content-type': 'application/json', ...headers }, body: method === 'GET' || method === 'HEAD' ? undefined : '{}' });
  return { status: r.status, body: r.body.toString(), headers: r.headers };
}

const key = (k: string) => ({ 'x-api-key': k });

async function within1s(fn: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + 1000;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  jwks = await startJwks();
});
beforeEach(async () => {
  const dir = mkdtempSync(join(root, 'case-'));
  file = join(dir, 'tollgate.yaml');
  writeFileSync(file, config(join(dir, 'store.db')));
  gw = await startTestGateway('', { configFile: file });
});
afterEach(closeAll);
afterAll(() => {
  jwks.server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('API key scopes and auth.scopes per method', () => {
  it('a key with scope read may GET and HEAD; its POST, PUT and DELETE get 403 naming the scope, never the key', async () => {
    expect((await call('GET', '/books/1', key(READ_KEY))).status).toBe(200);
    expect((await call('HEAD', '/books/1', key(READ_KEY))).status).toBe(200);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await call(method, '/books/1', key(READ_KEY));
      expect(r.status, method).toBe(403);
      const body = JSON.parse(r.body) as Record<string, string>;
      expect(body).toMatchObject({ code: 'TG_FORBIDDEN', error: 'This key lacks the scope write.' });
      expect(r.body).not.toContain(READ_KEY);
      // Sent in a header, not as Bearer: no Bearer challenge for it.
      expect(r.headers['www-authenticate']).toBeUndefined();
    }
  });

  it('a key with read and write may use every method', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) expect((await call(method, '/books/1', key(WRITE_KEY))).status, method).toBe(200);
  });

  it('a key declared without scopes keeps full access, as before scopes existed', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) expect((await call(method, '/books/1', key(OLD_KEY))).status, method).toBe(200);
  });

  it('anonymous callers pass where the method needs no scope, and get 401 where it needs one', async () => {
    expect((await call('GET', '/open')).status).toBe(200);
    const r = await call('POST', '/open');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toContain('ApiKey');
    expect((await call('POST', '/open', key(READ_KEY))).status).toBe(403);
    expect((await call('POST', '/open', key(WRITE_KEY))).status).toBe(200);
  });

  it('an OAuth2 token is held to the same scopes per method (403 insufficient_scope)', async () => {
    const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }).toString();
    const t = await send(gw.url, {
      method: 'POST',
      path: '/oauth2/token/',
      headers: { authorization: `Basic ${Buffer.from(`web:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    expect(t.status).toBe(200);
    const bearer = { authorization: `Bearer ${t.json<{ access_token: string }>().access_token}` };
    expect((await call('GET', '/books/1', bearer)).status).toBe(200);
    const r = await call('POST', '/books/1', bearer);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'TG_FORBIDDEN', error: 'The token lacks the scope write.' });
    expect(r.headers['www-authenticate']).toContain('error="insufficient_scope", scope="write"');
  });

  it('a JWT with a scope claim is held to it (RFC 9068); one without scope passes, like an unscoped key', async () => {
    const reader = { authorization: `Bearer ${await jwks.sign({ scope: 'read profile' })}` };
    expect((await call('GET', '/jwt', reader)).status).toBe(200);
    const r = await call('POST', '/jwt', reader);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'The token lacks the scope write.' });
    expect(r.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect((await call('POST', '/jwt', { authorization: `Bearer ${await jwks.sign({ scope: 'read write' })}` })).status).toBe(200);
    expect((await call('POST', '/jwt', { authorization: `Bearer ${await jwks.sign({})}` })).status).toBe(200);
  });

  it('tollgate sync of changed scope lists is seen by the running gateway within 1 s, both ways', async () => {
    // Cached first, so the change must evict it.
    expect((await call('POST', '/books/1', key(READ_KEY))).status).toBe(403);
    expect((await call('POST', '/books/1', key(WRITE_KEY))).status).toBe(200);
    const db = /sqlite:([^"]+)"/.exec(readFileSync(file, 'utf8'))![1];
    writeFileSync(file, config(db, '[read, write]', '[read]'));
    const sync = await runCli(['sync', '-c', file, '--json']);
    expect(sync.stderr).toBe('');
    expect((JSON.parse(sync.stdout) as { updated: number }).updated).toBe(2);
    expect(await within1s(async () => (await call('POST', '/books/1', key(WRITE_KEY))).status === 403)).toBe(true);
    expect(await within1s(async () => (await call('POST', '/books/1', key(READ_KEY))).status === 200)).toBe(true);
    // A second sync of the same file changes nothing.
    expect((JSON.parse((await runCli(['sync', '-c', file, '--json'])).stdout) as { updated: number }).updated).toBe(0);
  });

  it('tollgate keys create --scopes makes a key that works at once, within its scopes; keys list shows them', async () => {
    const created = await runCli(['keys', 'create', 'old', '--scopes', 'read', '--json', '-c', file]);
    expect(created.stderr).toBe('');
    const c = JSON.parse(created.stdout) as { id: string; secret: string; scopes: string[] };
    expect(c.scopes).toEqual(['read']);
    expect((await call('GET', '/books/1', key(c.secret))).status).toBe(200);
    expect((await call('POST', '/books/1', key(c.secret))).status).toBe(403);

    const json = JSON.parse((await runCli(['keys', 'list', 'old', '--json', '-c', file])).stdout) as { id: string; scopes: string[] }[];
    expect(json.find((k) => k.id === c.id)?.scopes).toEqual(['read']);
    const table = (await runCli(['keys', 'list', 'old', '-c', file])).stdout.split('\n');
    expect(table[0]).toContain('SCOPES');
    expect(table.find((l) => l.startsWith(c.id))).toMatch(/\bread\b/);
    expect(table.find((l) => l.includes('api_key') && !l.startsWith(c.id))).toContain('(all)');
    const shown = (await runCli(['apps', 'show', 'old', '-c', file])).stdout.split('\n');
    expect(shown.find((l) => l.startsWith(c.id))).toMatch(/\bread\b/);

    const app = await runCli(['apps', 'create', 'scribe', '--plan', 'p', '--with-key', '--scopes', 'read,write', '--json', '-c', file]);
    expect(app.stderr).toBe('');
    const scribe = JSON.parse(app.stdout) as { secret: string };
    expect((await call('POST', '/books/1', key(scribe.secret))).status).toBe(200);

    const bad = await runCli(['keys', 'create', 'old', '--scopes', ',', '-c', file]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--scopes');
  });

  it('a config with an empty scope list or a lower-case method is refused with file, line and key', async () => {
    const db = /sqlite:([^"]+)"/.exec(readFileSync(file, 'utf8'))![1];
    writeFileSync(file, config(db, '[]').replace('GET: [read]', 'get: [read]'));
    const r = await runCli(['check', '-c', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/tollgate\.yaml:6: applications\[0\]\.keys\[0\]\.scopes: expected at least one scope/);
    expect(r.stderr).toMatch(/tollgate\.yaml:\d+: routes\[0\]\.policies\[0\]\.auth\.scopes: expected scopes for every method/);
  });
});
