/**
 * `tollgate clients` through the compiled binary against a running examples/oauth2.yaml: a client created
 * with the CLI gets tokens at once; list never shows its secret; revoke stops it and its tokens within a
 * second. Needs `npm run build`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import type { Running } from '../helpers/cli.js';
import { send } from '../helpers/gateway.js';
import { closeAll, startUpstream } from '../helpers/upstream.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/oauth2.yaml', import.meta.url));

let dir: string;
let env: NodeJS.ProcessEnv;
let gw: Running;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-clients-'));
  const up = await startUpstream();
  env = {
    UPSTREAM_URL: up.url,
    TOLLGATE_STORE: `sqlite:${join(dir, 'o.db')}`,
    OAUTH_CLIENT_ID: 'demo-client',
    OAUTH_CLIENT_SECRET: 'demo-secret-1',
    OAUTH_PUBLIC_CLIENT_ID: 'demo-spa',
    DEMO_USER: 'alice',
    DEMO_PASSWORD: 'wonderland',
  };
  gw = await startCli(['start', '-c', EXAMPLE, '--port', '0', '--admin-port', '0'], { env });
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli([...args, '-c', EXAMPLE], { env });

async function clientCredentials(id: string, secret: string) {
  const r = await send(gw.url, {
    method: 'POST',
    path: '/oauth2/token/',
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return { status: r.status, json: JSON.parse(r.body.toString()) as Record<string, string> };
}

describe('tollgate clients against a running gateway', () => {
  it('create prints the secret once, list shows hints only, revoke stops the client and its tokens', async () => {
    const created = await cli(['clients', 'create', 'demo-app', '--client-id', 'cli-made', '--grants', 'client_credentials', '--scopes', 'read', '--json']);
    expect(created.code).toBe(0);
    const out = JSON.parse(created.stdout) as { client_id: string; secret: string; grants: string; scopes: string };
    expect(out).toMatchObject({ client_id: 'cli-made', grants: 'client_credentials', scopes: 'read' });
    expect(out.secret).toMatch(/^tgs_/);

    const t = await clientCredentials('cli-made', out.secret);
    expect(t.status).toBe(200);
    expect(t.json.scope).toBe('read');
    const bearer = { authorization: `Bearer ${t.json.access_token}` };
    expect((await send(gw.url, { path: '/api/ping', headers: bearer })).status).toBe(200);

    const listed = await cli(['clients', 'list', 'demo-app']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+CLIENT_ID\s+APP\s+TYPE/);
    expect(listed.stdout).toContain('cli-made');
    expect(listed.stdout).toContain('demo-spa');
    expect(listed.stdout).not.toContain(out.secret);

    const revoked = await cli(['clients', 'revoke', 'cli-made']);
    expect(revoked.code).toBe(0);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 3000) {
      status = (await send(gw.url, { path: '/api/ping', headers: bearer })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await clientCredentials('cli-made', out.secret)).status).toBe(401);

    expect((await cli(['clients', 'revoke', 'no-such-client'])).code).not.toBe(0);
    const pub = await cli(['clients', 'create', 'demo-app', '--public', '--grants', 'client_credentials']);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toContain('public');
  });
});
