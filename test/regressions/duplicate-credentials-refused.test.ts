/**
 * A request that carries its credential twice (two header lines, a folded header, a repeated query
 * parameter, header and query disagreeing) is refused with 400 before any lookup: admitting it on the first
 * value lets a client pair a valid key with another one the upstream or a log reader may believe instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { okJson, startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

const KEY = 'valid-key-0123456789';
const OTHER = 'other-key-0123456789';
const APP_KEY = 'pair-app-key-0123456';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-dup-cred-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(closeAll);

let up: TestUpstream;
let gw: TestGateway;

beforeEach(async () => {
  up = await startUpstream(okJson);
  const db = join(dir, `t${Date.now()}${Math.random().toString(36).slice(2)}.db`);
  gw = await startTestGateway(`
store: "sqlite:${db}"
upstreams: { app: { url: "${up.url}" } }
plans: { free: { limits: { hits: [{ per: day, max: 1000 }] } } }
applications:
  - { id: demo, plan: free, keys: ["${KEY}"] }
  - { id: other, plan: free, keys: ["${OTHER}"] }
  - { id: pair, plan: free, appKeys: ["${APP_KEY}"] }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - auth: { apiKey: { header: x-api-key, query: api_key, bearer: true }, appId: {} }
`);
});

async function expectRefused(path: string, headers: string[]) {
  const r = await send(gw.url, { path, headers });
  expect(r.status).toBe(400);
  expect(r.json()).toMatchObject({ code: 'TG_AMBIGUOUS_CREDENTIALS', requestId: expect.any(String) });
  expect(r.json().error).toEqual(expect.any(String));
  // The message names where, never what.
  expect(r.body.toString()).not.toContain(KEY);
}

describe('duplicate credentials are refused with 400', () => {
  it('two x-api-key header lines, valid then wrong (and wrong then valid)', async () => {
    await expectRefused('/x', ['x-api-key', KEY, 'x-api-key', 'wrong-key']);
    await expectRefused('/x', ['x-api-key', 'wrong-key', 'x-api-key', KEY]);
    // Two lines with the same value are still two credentials.
    await expectRefused('/x', ['x-api-key', KEY, 'x-api-key', KEY]);
    expect(up.requests).toHaveLength(0);
  });

  it('an x-api-key folded by an intermediary into "a, b"', async () => {
    await expectRefused('/x', ['x-api-key', `${KEY}, ${OTHER}`]);
  });

  it('two Authorization headers, or two Bearer tokens folded into one', async () => {
    await expectRefused('/x', ['authorization', `Bearer ${KEY}`, 'authorization', `Bearer ${OTHER}`]);
    await expectRefused('/x', ['authorization', `Bearer ${KEY}, Bearer ${OTHER}`]);
  });

  it('the query key twice', async () => {
    await expectRefused(`/x?api_key=${KEY}&api_key=${OTHER}`, []);
    await expectRefused(`/x?app_id=pair&app_id=demo&app_key=${APP_KEY}`, []);
  });

  it('header and query (or Bearer) present and disagreeing', async () => {
    await expectRefused(`/x?api_key=${OTHER}`, ['x-api-key', KEY]);
    await expectRefused('/x', ['x-api-key', KEY, 'authorization', `Bearer ${OTHER}`]);
    await expectRefused(`/x?app_key=wrong`, ['app-id', 'pair', 'app-key', APP_KEY]);
    expect(up.requests).toHaveLength(0);
  });

  it('one credential, or the same one in header and query, still passes', async () => {
    expect((await send(gw.url, { path: '/x', headers: ['x-api-key', KEY] })).status).toBe(200);
    expect((await send(gw.url, { path: `/x?api_key=${KEY}`, headers: ['x-api-key', KEY] })).status).toBe(200);
    expect((await send(gw.url, { path: '/x', headers: ['authorization', `Bearer ${KEY}`] })).status).toBe(200);
    expect((await send(gw.url, { path: `/x?app_id=pair&app_key=${APP_KEY}` })).status).toBe(200);
    expect(up.requests).toHaveLength(4);
    // Credentials are not forwarded.
    expect(up.requests[1].url).toBe('/x');
  });
});
