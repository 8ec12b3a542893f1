/**
 * The CLI's store verbs and `tollgate cache` with `--admin URL` against a running gateway: same output and
 * --json as on the store directly, changes seen by the proxy, memory cache purged. Needs `npm run build`.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, DEMO_KEY, startAdminGateway } from '../helpers/admin.js';
import type { AdminGateway } from '../helpers/admin.js';
import { runCli } from '../helpers/cli.js';
import { send } from '../helpers/gateway.js';

let a: AdminGateway;
beforeAll(async () => {
  a = await startAdminGateway();
});
afterAll(async () => {
  await a.close();
});

const viaAdmin = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli([...args, '--admin', a.gw.adminUrl], { env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_ADMIN_URL: '', ...env } });
const viaStore = (args: string[]) => runCli([...args, '--store', `sqlite:${a.db}`], { env: { TOLLGATE_ADMIN_URL: '' } });

describe('store verbs with --admin', () => {
  it('apps create --with-key through the admin API prints the key once; the proxy takes it', async () => {
    const r = await viaAdmin(['apps', 'create', 'acme', '--plan', 'free', '--with-key', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { id: string; plan: string; keyId: string; secret: string };
    expect(out).toMatchObject({ id: 'acme', plan: 'free' });
    expect(out.secret).toMatch(/^tgk_/);
    const end = Date.now() + 1000;
    let status = 0;
    while (Date.now() < end && status !== 200) status = (await send(a.gw.url, { path: '/private/x', headers: { 'x-api-key': out.secret } })).status;
    expect(status).toBe(200);
  });

  it.each([
    [['apps', 'list']],
    [['apps', 'list', '--json']],
    [['apps', 'show', 'demo']],
    [['apps', 'show', 'demo', '--json']],
    [['keys', 'list', 'demo']],
    [['plans', 'list']],
    [['plans', 'show', 'free', '--json']],
    [['services', 'list']],
    [['users', 'list']],
    [['usage', 'demo', '--all', '--json']],
  ])('%j prints the same through the admin API as on the store', async (args) => {
    const [remote, local] = await Promise.all([viaAdmin(args), viaStore(args)]);
    expect(remote.stderr).toBe('');
    expect(remote.code).toBe(0);
    expect(remote.stdout).toBe(local.stdout);
  });

  it('keys create and revoke through the admin API; the proxy refuses the revoked key within 1 s', async () => {
    const created = JSON.parse((await viaAdmin(['keys', 'create', 'demo', '--label', 'ci', '--json'])).stdout) as { id: string; secret: string };
    const revoked = await viaAdmin(['keys', 'revoke', created.id]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^revoked\s+\d{4}-/m);
    const end = Date.now() + 1000;
    let status = 0;
    while (Date.now() < end && status !== 401) status = (await send(a.gw.url, { path: '/private/x', headers: { 'x-api-key': created.secret } })).status;
    expect(status).toBe(401);
    expect((await send(a.gw.url, { path: '/private/x', headers: { 'x-api-key': DEMO_KEY } })).status).toBe(200);
  });

  it('errors read as on the store: unknown application, and a missing or wrong token', async () => {
    const missing = await viaAdmin(['apps', 'show', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('error: no application nope\n');
    expect((await viaStore(['apps', 'show', 'nope'])).stderr).toBe(missing.stderr);
    const noToken = await viaAdmin(['apps', 'list'], { TOLLGATE_ADMIN_TOKEN: '' });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^error: admin API: .*Bearer.*\(set TOLLGATE_ADMIN_TOKEN or --admin-token\)\n$/);
    expect((await viaAdmin(['apps', 'list', '--admin-token', 'wrong'])).code).toBe(1);
    // A port nothing listens on (just freed).
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const down = await runCli(['apps', 'list', '--admin', `http://127.0.0.1:${port}`], { env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(`error: cannot reach the admin API at http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  it('apps update and delete through the admin API', async () => {
    await viaAdmin(['apps', 'create', 'tmp', '--plan', 'free']);
    const up = await viaAdmin(['apps', 'update', 'tmp', '--name', 'Temp Ltd', '--json']);
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ id: 'tmp', name: 'Temp Ltd' });
    const del = await viaAdmin(['apps', 'delete', 'tmp']);
    expect(del.code).toBe(0);
    expect(del.stdout).toMatch(/^deleted\s+true$/m);
    expect((await viaStore(['apps', 'show', 'tmp'])).stderr).toBe('error: no application tmp\n');
    const declared = await viaAdmin(['apps', 'delete', 'demo']);
    expect(declared.code).toBe(1);
    expect(declared.stderr).toContain('declared in the config');
  });

  it('TOLLGATE_ADMIN_URL does what --admin does', async () => {
    const r = await runCli(['plans', 'list', '--json'], { env: { TOLLGATE_ADMIN_URL: a.gw.adminUrl, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ id: 'free' })]);
  });
});

describe('tollgate cache with --admin', () => {
  it('stats and purge reach the running gateway\'s memory store', async () => {
    for (const p of ['/cached/a', '/cached/b']) await send(a.gw.url, { path: p });
    const stats = await viaAdmin(['cache', 'stats']);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^memory: 2 entries, [\d.]+ KiB, hit ratio 0\.0% \(hits 0, misses 2, stale 0, revalidated 0, bypass 0\)\n$/);
    const purged = await viaAdmin(['cache', 'purge', '/cached/a']);
    expect(purged.stdout).toBe('memory: purged 1 entry\n');
    expect((await viaAdmin(['cache', 'purge', '--prefix', '/cached/'])).stdout).toBe('memory: purged 1 entry\n');
    expect(JSON.parse((await viaAdmin(['cache', 'stats', '--json'])).stdout)).toEqual([expect.objectContaining({ store: 'memory', entries: 0 })]);
  });
});
