/**
 * Admin API security: the bearer token (config or TOLLGATE_ADMIN_TOKEN), constant-time checked; probes answer
 * without it; a non-loopback admin listener without a token is refused at start (config error, exit 2).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { startGateway } from '../../src/gateway.js';
import { ADMIN_TOKEN, startAdminGateway } from '../helpers/admin.js';
import type { AdminGateway } from '../helpers/admin.js';
import { runCli } from '../helpers/cli.js';
import { rawRequest, send } from '../helpers/gateway.js';

let a: AdminGateway | undefined;
afterEach(async () => {
  await a?.close();
  a = undefined;
});

describe('admin token', () => {
  it('answers 401 with WWW-Authenticate: Bearer and the catalogue shape without a token or with a wrong one', async () => {
    a = await startAdminGateway();
    for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}` }, { authorization: `Bearer ${ADMIN_TOKEN}x` }]) {
      const r = await send(a.gw.adminUrl, { path: '/api/applications', headers });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="tollgate-admin"/);
      expect(r.json()).toEqual({ code: 'TG_ADMIN_UNAUTHORIZED', error: expect.stringContaining('Bearer') });
      expect(r.body.toString()).not.toContain(ADMIN_TOKEN);
    }
    // Unknown paths are not a way to probe without the token either.
    expect((await send(a.gw.adminUrl, { path: '/api/nothing-here' })).status).toBe(401);
    const ok = await a.api('GET', '/api/applications');
    expect(ok.status).toBe(200);
    expect(ok.json<{ count: number }>().count).toBe(1);
  });

  it('no public path lets a request past the token onto the API (dot segments, encodings)', async () => {
    a = await startAdminGateway();
    for (const p of ['/docs/../api/applications', '/docs/%2e%2e/api/applications', '/assets/../api/plans', '/docs/..%2fapi/plans', '/metrics/../api/plans', '/healthz/../api/plans']) {
      const r = await rawRequest(a.gw.adminUrl, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect([401, 404], p).toContain(r.status);
      expect(r.body, p).not.toContain('"results"');
    }
  });

  it('does not ask /healthz and /readyz for the token', async () => {
    a = await startAdminGateway();
    expect((await send(a.gw.adminUrl, { path: '/healthz' })).status).toBe(200);
    expect((await send(a.gw.adminUrl, { path: '/readyz' })).status).toBe(200);
  });

  it('takes TOLLGATE_ADMIN_TOKEN when the config sets no admin.token', async () => {
    a = await startAdminGateway({ admin: '', env: { TOLLGATE_ADMIN_TOKEN: 'from-env-token-123' } });
    expect((await send(a.gw.adminUrl, { path: '/api/plans' })).status).toBe(401);
    expect((await send(a.gw.adminUrl, { path: '/api/plans', headers: { authorization: 'Bearer from-env-token-123' } })).status).toBe(200);
  });

  it('reads admin.token from ${file:…} and never shows it in /api/config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-admin-tok-'));
    try {
      writeFileSync(join(dir, 'token'), 'file-token-abcdef0123\n');
      a = await startAdminGateway({ admin: `admin: { token: "\${file:${join(dir, 'token')}}" }` });
      const auth = { authorization: 'Bearer file-token-abcdef0123' };
      const r = await send(a.gw.adminUrl, { path: '/api/config', headers: auth });
      expect(r.status).toBe(200);
      expect(r.body.toString()).not.toContain('file-token-abcdef0123');
      expect(r.json<{ admin: { token: string } }>().admin.token).toBe('[redacted]');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start the admin listener on a non-loopback address without a token (config error naming admin.host)', async () => {
    const yaml = 'admin: { host: 0.0.0.0, port: 0 }\nroutes: [{ match: { prefix: / }, respond: { status: 204 } }]\n';
    const err = await startGateway({ configText: { text: yaml, name: 'open.yaml' }, env: {}, log: pino({ level: 'silent' }), overrides: { port: 0, host: '127.0.0.1' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toMatchObject({ file: 'open.yaml', line: 1, path: ['admin', 'host'] });
    expect((err as ConfigError).problems[0].message).toMatch(/not loopback.*admin\.token.*TOLLGATE_ADMIN_TOKEN/);
    // With a token it starts.
    const gw = await startGateway({ configText: { text: yaml, name: 'open.yaml' }, env: { TOLLGATE_ADMIN_TOKEN: 'tok-0123456789' }, log: pino({ level: 'silent' }), overrides: { port: 0, host: '127.0.0.1' } });
    await gw.shutdown();
  });

  it('`tollgate start` exits 2 with the config error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-admin-start-'));
    try {
      const file = join(dir, 'open.yaml');
      writeFileSync(file, 'listen: { port: 0 }\nadmin:\n  host: 0.0.0.0\n  port: 0\nroutes: [{ match: { prefix: / }, respond: { status: 204 } }]\n');
      const r = await runCli(['start', '-c', file], { env: { TOLLGATE_ADMIN_TOKEN: '' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${file}:3: admin.host: the admin listener on 0.0.0.0 (not loopback) needs a token`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
