/**
 * The store verbs through the compiled binary, as the README shows them: create an app and a key against
 * a running gateway, use it until 429, read the usage, suspend, revoke. Needs `npm run build`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import type { Running } from '../helpers/cli.js';
import { awayFromMinuteBoundary } from '../helpers/clock.js';
import { send } from '../helpers/gateway.js';
import { closeAll, startUpstream } from '../helpers/upstream.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/keys.yaml', import.meta.url));

let dir: string;
let env: NodeJS.ProcessEnv;
let gw: Running;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-keys-'));
  const up = await startUpstream();
  env = { UPSTREAM_URL: up.url, TOLLGATE_STORE: `sqlite:${join(dir, 'keys.db')}`, TOLLGATE_REDIS_URL: '', DEMO_API_KEY: '' };
  gw = await startCli(['start', '-c', EXAMPLE, '--port', '0', '--admin-port', '0'], { env });
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli([...args, '-c', EXAMPLE], { env: { ...env, ...extra } });

describe('tollgate apps / keys / usage against a running gateway', () => {
  let keyId = '';
  let key = '';

  it('apps create --with-key prints the key once; list and show never print it', async () => {
    const created = await cli(['apps', 'create', 'acme', '--plan', 'free', '--with-key', '--json']);
    expect(created.code).toBe(0);
    const out = JSON.parse(created.stdout) as { id: string; keyId: string; secret: string };
    expect(out.id).toBe('acme');
    expect(out.secret).toMatch(/^tgk_/);
    key = out.secret;
    keyId = out.keyId;
    const shown = await cli(['apps', 'show', 'acme']);
    expect(shown.stdout).toContain('api_key');
    expect(shown.stdout).not.toContain(key);
    const listed = await cli(['keys', 'list', 'acme']);
    expect(listed.stdout).toMatch(/^ID\s+APP\s+KIND\s+HINT/);
    expect(listed.stdout).not.toContain(key);
  });

  it('the new key gets 5 requests a minute, then 429; usage shows the 5', async () => {
    await awayFromMinuteBoundary();
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await send(gw.url, { path: '/private/x', headers: { 'x-api-key': key } })).status);
    expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
    let hits = 0;
    for (let i = 0; i < 40 && hits !== 5; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const u = await cli(['usage', 'acme', '--period', 'minute', '--json']);
      hits = (JSON.parse(u.stdout) as { metric: string; value: number }[]).find((r) => r.metric === 'hits')?.value ?? 0;
    }
    expect(hits).toBe(5);
    const table = await cli(['usage', 'acme', '--period', 'minute']);
    expect(table.stdout).toMatch(/hits\s+minute\s+\S+\s+5/);
  }, 30_000);

  it('apps suspend: 403; resume: back; keys revoke: 401', async () => {
    const until = async (...want: number[]) => {
      for (let i = 0; i < 40; i++) {
        const s = (await send(gw.url, { path: '/private/x', headers: { 'x-api-key': key } })).status;
        if (want.includes(s)) return s;
        await new Promise((r) => setTimeout(r, 50));
      }
      return -1;
    };
    expect((await cli(['apps', 'suspend', 'acme'])).code).toBe(0);
    expect(await until(403)).toBe(403);
    expect((await cli(['apps', 'resume', 'acme'])).code).toBe(0);
    // 200, or 429 when this minute's 5 are used up: either way no longer refused as suspended.
    expect([200, 429]).toContain(await until(200, 429));
    expect((await cli(['keys', 'revoke', keyId])).code).toBe(0);
    expect(await until(401)).toBe(401);
  });

  it('plans, services and users: create, list, show', async () => {
    expect((await cli(['plans', 'create', 'gold', '--limit', 'hits:minute:100', '--limit', 'hits:day:10000'])).code).toBe(0);
    const plans = JSON.parse((await cli(['plans', 'list', '--json'])).stdout) as { id: string; limits: unknown[] }[];
    expect(plans.map((p) => p.id).sort()).toEqual(['anonymous', 'free', 'gold']);
    expect(plans.find((p) => p.id === 'gold')?.limits).toEqual([
      { metric: 'hits', period: 'minute', max: 100 },
      { metric: 'hits', period: 'day', max: 10000 },
    ]);
    const svc = await cli(['services', 'create', 'books']);
    expect(svc.stdout).toMatch(/service token: tgt_/);
    expect((await cli(['services', 'show', 'books'])).stdout).not.toMatch(/tgt_/);
    const user = await cli(['users', 'create', 'alice', '--app', 'acme', '--json'], { TOLLGATE_PASSWORD: 'a long password' });
    expect(user.code).toBe(0);
    expect(user.stdout).not.toContain('a long password');
    expect((await cli(['users', 'show', 'alice'])).stdout).toMatch(/username\s+alice/);
  }, 30_000);

  it('errors are one line on stderr with exit code 1', async () => {
    const r = await cli(['apps', 'create', 'x', '--plan', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: plan 'nope' does not exist.\n");
    expect((await cli(['plans', 'create', 'bad', '--limit', 'hits:fortnight:3'])).code).toBe(1);
  });

  it('tollgate migrate reports the store up to date', async () => {
    const r = await cli(['migrate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('up to date\n');
  });
});
