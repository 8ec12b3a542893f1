/**
 * Store verbs read and write only what they are asked: `apps list -c FILE` must not sync the config into
 * the store (with `${DEMO_API_KEY:-}` unset in the CLI's shell, that sync revoked the running gateway's demo
 * key). The README sequence, through the compiled binary: start examples/keys.yaml with DEMO_API_KEY set,
 * then run the store verbs without it. `tollgate sync` is the explicit way, and an empty declared key is
 * skipped with a warning instead of revoking anything.
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
const DEMO_KEY = 'demo-key-change-me';

let dir: string;
let env: NodeJS.ProcessEnv;
let gw: Running;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-store-verbs-'));
  const up = await startUpstream();
  env = { UPSTREAM_URL: up.url, TOLLGATE_STORE: `sqlite:${join(dir, 'keys.db')}`, TOLLGATE_REDIS_URL: '' };
  gw = await startCli(['start', '-c', EXAMPLE, '--port', '0', '--admin-port', '0'], { env: { ...env, DEMO_API_KEY: DEMO_KEY } });
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

/** The CLI in a shell where DEMO_API_KEY is not set (as in the README). */
const cli = (args: string[]) => runCli([...args, '-c', EXAMPLE], { env: { ...env, DEMO_API_KEY: undefined } });
const demo = async () => (await send(gw.url, { path: '/private/x', headers: { 'x-api-key': DEMO_KEY } })).status;
/** Longer than the gateway's 250 ms directory refresh: a revocation would be seen by then. */
const settle = () => new Promise((r) => setTimeout(r, 700));

describe('store verbs with -c do not write the config into the store', () => {
  it('apps create / apps list / keys list without DEMO_API_KEY leave the running demo key working', async () => {
    await awayFromMinuteBoundary(15_000);
    expect(await demo()).toBe(200);
    const created = await cli(['apps', 'create', 'acme', '--plan', 'free', '--with-key', '--json']);
    expect(created.code).toBe(0);
    expect((await cli(['apps', 'list'])).code).toBe(0);
    const keys = await cli(['keys', 'list', 'demo', '--json']);
    expect(keys.code).toBe(0);
    await settle();
    expect(await demo()).toBe(200);
    const listed = JSON.parse((await cli(['keys', 'list', 'demo', '--json'])).stdout) as { revokedAt: string | null }[];
    expect(listed).toHaveLength(1);
    expect(listed[0].revokedAt).toBeNull();
  });

  it('tollgate sync without DEMO_API_KEY skips the empty key with a warning and revokes nothing', async () => {
    const r = await cli(['sync']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*keys\.yaml:\d+: applications\[0\]\.keys\[0\]: empty \(its variable is unset\): skipped/m);
    expect(r.stdout).toMatch(/revoked\s+0/);
    await settle();
    expect(await demo()).toBe(200);
  });

  it('tollgate sync applies what the config declares (--json report), and has --help with examples', async () => {
    const r = await runCli(['sync', '-c', EXAMPLE, '--json'], { env: { ...env, DEMO_API_KEY: 'another-demo-key-0123' } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ created: 1, revoked: 1 });
    await settle();
    expect(await demo()).toBe(401);
    expect((await send(gw.url, { path: '/private/x', headers: { 'x-api-key': 'another-demo-key-0123' } })).status).toBe(200);
    const help = await runCli(['sync', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('tollgate sync -c');
  });
});
