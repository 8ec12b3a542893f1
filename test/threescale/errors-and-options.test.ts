/**
 * The 3scale API's refusals: 3scale's error codes and statuses (422 only for usage_value_invalid), never an
 * echoed secret, the `3scale-options` header extensions, provider keys per service and per account, report
 * batch bounds, and suspended applications.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-3scale-errors-'));
const TOKEN = 'service-token-errors-0001';
const KEY = 'app-key-errors-0001';
const USER_KEY = 'user-key-errors-0001';
const PK = 'provider-key-svc1-0001';
const ACCOUNT_PK = 'provider-key-account-01';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway(`
store: "sqlite:${join(dir, `${randomUUID()}.db`)}"
threescale: { enabled: true, providerKey: "${ACCOUNT_PK}" }
services:
  svc1: { token: "${TOKEN}", providerKey: "${PK}", metrics: { search: Searches } }
  svc2: { token: "service-token-errors-0002" }
plans:
  basic: { name: Basic, service: svc1, limits: { hits: [{ per: minute, max: 1000 }], search: [{ per: day, max: 2 }] } }
  other: { service: svc2 }
applications:
  - { id: app1, plan: basic, service: svc1, appKeys: ["${KEY}"], userKeys: ["${USER_KEY}"] }
  - { id: frozen, plan: basic, service: svc1, state: suspended, appKeys: ["frozen-app-key-01"] }
  - { id: other, plan: other, service: svc2, appKeys: ["other-app-key-0001"] }
`);
});
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, headers?: Record<string, string>) => send(gw.url, { path, headers });
const st = `service_token=${TOKEN}&service_id=svc1`;

describe('3scale API errors', () => {
  it.each([
    ['no provider credentials', `/transactions/authorize.xml?service_id=svc1&app_id=app1&app_key=${KEY}`, 403, 'provider_key_or_service_token_required'],
    ['a service token without service_id', `/transactions/authorize.xml?service_token=${TOKEN}&app_id=app1&app_key=${KEY}`, 403, 'service_id_missing'],
    ['a wrong service token', `/transactions/authorize.xml?service_token=not-the-token-at-all&service_id=svc1&app_id=app1&app_key=${KEY}`, 403, 'service_token_invalid'],
    ['another service\u2019s token', `/transactions/authorize.xml?service_token=service-token-errors-0002&service_id=svc1&app_id=app1&app_key=${KEY}`, 403, 'service_token_invalid'],
    ['a wrong provider key', `/transactions/authorize.xml?provider_key=wrong-provider-key&service_id=svc1&app_id=app1&app_key=${KEY}`, 403, 'provider_key_invalid'],
    ['svc1\u2019s provider key on svc2', `/transactions/authorize.xml?provider_key=${PK}&service_id=svc2&app_id=other&app_key=other-app-key-0001`, 403, 'provider_key_invalid'],
    ['an unknown service (account provider key)', `/transactions/authorize.xml?provider_key=${ACCOUNT_PK}&service_id=nope&app_id=app1&app_key=${KEY}`, 404, 'service_id_invalid'],
    ['an unknown application', `/transactions/authorize.xml?${st}&app_id=nobody`, 404, 'application_not_found'],
    ['an application of another service', `/transactions/authorize.xml?${st}&app_id=other&app_key=other-app-key-0001`, 404, 'application_not_found'],
    ['no application at all', `/transactions/authrep.xml?${st}`, 404, 'application_not_found'],
    ['a missing app_key', `/transactions/authorize.xml?${st}&app_id=app1`, 403, 'application_key_invalid'],
    ['a wrong app_key', `/transactions/authorize.xml?${st}&app_id=app1&app_key=wrong-key-value-1`, 403, 'application_key_invalid'],
    ['a wrong user_key', `/transactions/authorize.xml?${st}&user_key=wrong-user-key-01`, 403, 'user_key_invalid'],
    ['an unknown metric', `/transactions/authorize.xml?${st}&app_id=app1&app_key=${KEY}&usage%5Bnope%5D=1`, 404, 'metric_invalid'],
    ['a usage value that is not a number', `/transactions/authorize.xml?${st}&app_id=app1&app_key=${KEY}&usage%5Bhits%5D=1.5`, 422, 'usage_value_invalid'],
    ['usage that is not a group', `/transactions/authorize.xml?${st}&app_id=app1&app_key=${KEY}&usage=1`, 400, 'bad_request'],
    ['a malformed percent-encoding', `/transactions/authorize.xml?${st}&app_id=app1&app_key=%E0%A4%A`, 400, 'bad_request'],
    ['an unknown access token (oauth)', `/transactions/oauth_authorize.xml?${st}&access_token=some-token-value`, 404, 'access_token_invalid'],
  ])('%s: %s %s, in 3scale\u2019s XML, without echoing secrets', async (_what, path, status, code) => {
    const r = await get(path);
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toBe('application/vnd.3scale-v2.0+xml');
    const body = r.body.toString();
    expect(body).toMatch(new RegExp(`^<\\?xml version="1.0" encoding="UTF-8"\\?><error code="${code}">[^<]+</error>$`));
    for (const secret of [TOKEN, KEY, USER_KEY, PK, ACCOUNT_PK, 'not-the-token-at-all', 'wrong-provider-key', 'wrong-key-value-1', 'wrong-user-key-01', 'some-token-value']) expect(body).not.toContain(secret);
  });

  it('accepts the account provider key and the service\u2019s own, and takes the only keyed service when service_id is missing', async () => {
    expect((await get(`/transactions/authorize.xml?provider_key=${ACCOUNT_PK}&service_id=svc1&app_id=app1&app_key=${KEY}`)).status).toBe(200);
    expect((await get(`/transactions/authorize.xml?provider_key=${PK}&service_id=svc1&user_key=${USER_KEY}`)).status).toBe(200);
    expect((await get(`/transactions/authorize.xml?provider_key=${PK}&app_id=app1&app_key=${KEY}`)).status).toBe(200);
  });

  it('answers a suspended application with 409 and a reason', async () => {
    const r = await get(`/transactions/authorize.xml?${st}&app_id=frozen&app_key=frozen-app-key-01`);
    expect(r.status).toBe(409);
    expect(r.body.toString()).toContain('<authorized>false</authorized><reason>application is not active</reason><plan>Basic</plan>');
  });

  it('3scale-options: rejection_reason_header and limit_headers', async () => {
    const opts = { '3scale-options': 'rejection_reason_header=1&limit_headers=1' };
    const ok = await get(`/transactions/authrep.xml?${st}&app_id=app1&app_key=${KEY}&usage%5Bsearch%5D=1`, opts);
    expect(ok.status).toBe(200);
    // The tightest limit: search, 2 a day, 1 used.
    expect(ok.headers['3scale-limit-remaining']).toBe('1');
    expect(ok.headers['3scale-limit-max-value']).toBe('2');
    expect(Number(ok.headers['3scale-limit-reset'])).toBeGreaterThan(0);
    expect(Number(ok.headers['3scale-limit-reset'])).toBeLessThanOrEqual(86_400);
    expect(ok.headers['3scale-rejection-reason']).toBeUndefined();
    const over = await get(`/transactions/authrep.xml?${st}&app_id=app1&app_key=${KEY}&usage%5Bsearch%5D=2`, opts);
    expect(over.status).toBe(409);
    expect(over.headers['3scale-rejection-reason']).toBe('limits_exceeded');
    expect(over.body.toString()).toContain('<usage_report metric="search" period="day" exceeded="true">');
    const bad = await get(`/transactions/authorize.xml?${st}&app_id=app1&app_key=wrong-key-value-1`, opts);
    expect(bad.headers['3scale-rejection-reason']).toBe('application_key_invalid');
    // Without the header, none of these.
    const plain = await get(`/transactions/authorize.xml?${st}&app_id=app1&app_key=${KEY}`);
    expect(Object.keys(plain.headers).filter((h) => h.startsWith('3scale-'))).toEqual([]);
  });

  it('reports: 202 and empty, up to 1000 transactions; more, or none, is 400; a non-form body is 400', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const txs = (n: number) => Array.from({ length: n }, (_, i) => `transactions[${i}][app_id]=app1&transactions[${i}][usage][hits]=1`).join('&');
    const ok = await send(gw.url, { method: 'POST', path: '/transactions.xml', headers: form, body: `${st}&${txs(1000)}` });
    expect([ok.status, ok.body.length]).toEqual([202, 0]);
    const tooMany = await send(gw.url, { method: 'POST', path: '/transactions.xml', headers: form, body: `${st}&${txs(1001)}` });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.toString()).toContain('<error code="bad_request">at most 1000 transactions per report</error>');
    const none = await send(gw.url, { method: 'POST', path: '/transactions.xml', headers: form, body: st });
    expect(none.status).toBe(400);
    const json = await send(gw.url, { method: 'POST', path: '/transactions.xml', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(400);
    // The 1000 hits counted.
    const seen = await get(`/transactions/authorize.xml?${st}&app_id=app1&app_key=${KEY}`);
    expect(seen.body.toString()).toMatch(/<usage_report metric="hits" period="minute"[^>]*>.*?<current_value>(100[0-9])<\/current_value>/);
  });

  it('only the listed methods: GET for the calls, POST for reports', async () => {
    expect((await send(gw.url, { method: 'POST', path: `/transactions/authorize.xml?${st}` })).status).toBe(405);
    expect((await get(`/transactions.xml?${st}`)).status).toBe(405);
  });
});

describe('3scale API off (the default)', () => {
  it('adds no routes: its paths go to the configured routes like any other', async () => {
    const off = await startTestGateway(`
routes:
  - { match: { prefix: / }, respond: { status: 418, body: mine } }
`);
    const r = await send(off.url, { path: `/transactions/authrep.xml?${st}&app_id=app1&app_key=${KEY}` });
    expect([r.status, r.body.toString()]).toEqual([418, 'mine']);
  });
});
