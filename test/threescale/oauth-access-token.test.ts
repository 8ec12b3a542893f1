/**
 * oauth_authorize.xml / oauth_authrep.xml with an `access_token` issued by Tollgate's own OAuth2 provider:
 * the token's application is the one authorized (and counted); a revoked or unknown token is 3scale's 404
 * access_token_invalid.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-3scale-oauth-'));
const TOKEN = 'service-token-oauth-0001';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway(`
store: "sqlite:${join(dir, `${randomUUID()}.db`)}"
threescale: { enabled: true }
oauth2: {}
services:
  svc1: { token: "${TOKEN}" }
plans:
  basic: { name: Basic, service: svc1, limits: { hits: [{ per: minute, max: 2 }] } }
applications:
  - id: oauth-app
    plan: basic
    service: svc1
    oauth2Clients: [{ id: tg-client, secret: tg-client-secret-01, scopes: [read] }]
`);
});
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

async function token(): Promise<string> {
  const body = 'grant_type=client_credentials&client_id=tg-client&client_secret=tg-client-secret-01';
  const r = await send(gw.url, { method: 'POST', path: '/oauth2/token/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  expect(r.status).toBe(200);
  return (JSON.parse(r.body.toString()) as { access_token: string }).access_token;
}

const st = `service_token=${TOKEN}&service_id=svc1`;

describe('3scale oauth_ calls with an access token of the OAuth2 provider', () => {
  it('authorizes and counts the token\u2019s application; a revoked or unknown token is access_token_invalid', async () => {
    const t = await token();
    const auth = await send(gw.url, { path: `/transactions/oauth_authorize.xml?${st}&access_token=${t}` });
    expect(auth.status).toBe(200);
    const xml = auth.body.toString();
    expect(xml).toContain('<authorized>true</authorized>');
    expect(xml).toContain('<application><id>oauth-app</id>');
    expect(xml).not.toContain(t);

    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(gw.url, { path: `/transactions/oauth_authrep.xml?${st}&access_token=${t}&usage%5Bhits%5D=1` })).status);
    expect(statuses).toEqual([200, 200, 409]);

    const rv = await send(gw.url, {
      method: 'POST',
      path: '/oauth2/revoke/',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${t}&client_id=tg-client&client_secret=tg-client-secret-01`,
    });
    expect(rv.status).toBe(200);
    const after = await send(gw.url, { path: `/transactions/oauth_authorize.xml?${st}&access_token=${t}` });
    expect(after.status).toBe(404);
    expect(after.body.toString()).toContain('<error code="access_token_invalid">');
    const bogus = await send(gw.url, { path: `/transactions/oauth_authorize.xml?${st}&access_token=tgo_not-a-real-token` });
    expect(bogus.status).toBe(404);
  });
});
