import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, startCli } from './helpers/cli.js';

let upstream: Server;
let upstreamUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'tg-cli-'));

beforeAll(async () => {
  upstream = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => upstream.close());

const config = (extra = '') => `upstreams:\n  app:\n    url: "\${UPSTREAM_URL}"\nroutes:\n  - name: api\n    match: { prefix: /api/ }\n    upstream: app\n    stripPrefix: true\n${extra}`;

describe('tollgate CLI', () => {
  it('shows examples in --help of every verb', async () => {
    for (const verb of ['start', 'check', 'init', 'demo']) {
      const r = await runCli([verb, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Examples:');
      expect(r.stdout).toContain(`tollgate ${verb}`);
    }
  });

  it('exits 2 on an unknown verb or flag', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    expect((await runCli(['start', '--no-such-flag'])).code).toBe(2);
  });

  it('init writes a starter config that check accepts, and refuses to overwrite it', async () => {
    const file = join(dir, 'starter.yaml');
    const r = await runCli(['init', file]);
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('# tollgate.yaml');
    const again = await runCli(['init', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--force');
    const check = await runCli(['check', '-c', file]);
    expect(check.stdout).toContain('ok');
    expect(check.stdout).toMatch(/api: prefix \/api\/, any method -> upstream app \(strip prefix\)/);
    expect(check.code).toBe(0);
  });

  it('check prints every problem with file, line and key, and exits 2', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'listen:\n  port: -1\nroutes:\n  - match: { prefix: / }\n    upstream: app\n    stripPrefx: true\n');
    const r = await runCli(['check', '-c', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:2: listen.port: Too small: expected number to be >=0`);
    expect(r.stderr).toContain(`${file}:6: routes[0]: unknown key "stripPrefx"`);
    // References between sections are checked once the file is valid.
    writeFileSync(file, 'routes:\n  - match: { prefix: / }\n    upstream: missing\n');
    const r2 = await runCli(['check', '-c', file]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`${file}:3: routes[0].upstream: unknown upstream "missing"`);
  });

  it('check names a missing environment variable', async () => {
    const file = join(dir, 'env.yaml');
    writeFileSync(file, config());
    const r = await runCli(['check', '-c', file], { env: { UPSTREAM_URL: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('environment variable UPSTREAM_URL is not set');
  });

  it('start serves the config on --port 0, reloads on SIGHUP, and exits 0 on SIGTERM', async () => {
    const file = join(dir, 'serve.yaml');
    writeFileSync(file, config());
    const gw = await startCli(['start', '-c', file, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { env: { UPSTREAM_URL: upstreamUrl } });
    try {
      expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${gw.url}/api/hello?x=1`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ path: '/hello?x=1' });
      expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${gw.url}/new/x`)).status).toBe(404);

      writeFileSync(file, config(`  - name: new\n    match: { prefix: /new/ }\n    upstream: app\n`));
      gw.child.kill('SIGHUP');
      let status = 404;
      for (let i = 0; i < 50 && status === 404; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await fetch(`${gw.url}/new/x`)).status;
      }
      expect(status).toBe(200);

      // A broken config on reload is logged and the running one keeps serving.
      writeFileSync(file, 'routes: [ { match: {} } ]');
      gw.child.kill('SIGHUP');
      // Poll for the log line (a fixed sleep was flaky on a busy machine).
      for (let i = 0; i < 100 && !gw.output().includes('reload failed'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(gw.output()).toContain('reload failed');
      expect((await fetch(`${gw.url}/new/x`)).status).toBe(200);
    } finally {
      expect(await gw.stop('SIGTERM')).toBe(0);
    }
  });

  it('start exits 2 on a bad config and 1 when the port is taken', async () => {
    const bad = join(dir, 'bad2.yaml');
    writeFileSync(bad, 'routes: 3');
    const r = await runCli(['start', '-c', bad]);
    expect(r.code).toBe(2);
    const good = join(dir, 'taken.yaml');
    writeFileSync(good, config());
    const port = (upstream.address() as AddressInfo).port;
    const taken = await runCli(['start', '-c', good, '--port', String(port), '--host', '127.0.0.1', '--admin-port', '0'], { env: { UPSTREAM_URL: upstreamUrl } });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('cannot listen');
  });

  it('demo starts a gateway and a demo upstream whose printed curl lines work', async () => {
    const gw = await startCli(['demo', '--port', '0', '--admin-port', '0']);
    try {
      const out = gw.output();
      expect(out).toContain(`curl -i ${gw.url}/api/hello`);
      const res = await fetch(`${gw.url}/api/hello`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { hello: string }).hello).toBe('world');
      const items = (await (await fetch(`${gw.url}/api/items?page=2&page_size=5`)).json()) as { results: { id: number }[] };
      expect(items.results.map((r) => r.id)).toEqual([6, 7, 8, 9, 10]);
      // The cached route: the second answer comes from the cache.
      expect((await fetch(`${gw.url}/cached/hello`)).headers.get('x-cache')).toBe('MISS');
      expect((await fetch(`${gw.url}/cached/hello`)).headers.get('x-cache')).toBe('HIT');
      // The keyed route: 401 without the printed key, 200 with it.
      expect((await fetch(`${gw.url}/private/hello`)).status).toBe(401);
      const key = /x-api-key: (\S+?)'/.exec(out)?.[1];
      expect(key).toBeDefined();
      expect((await fetch(`${gw.url}/private/hello`, { headers: { 'x-api-key': key! } })).status).toBe(200);
    } finally {
      expect(await gw.stop('SIGINT')).toBe(0);
    }
  });

  it('piped into head, --help stops quietly (no EPIPE stack trace)', () => {
    for (let i = 0; i < 5; i++) {
      // head leaves after one line; node's stderr stays the shell's, captured apart from the pipe.
      const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" apps --help | head -n 1`], { encoding: 'utf8' });
      expect(r.stdout).toBe('Usage: tollgate apps [options] [command]\n');
      expect(r.stderr).toBe('');
    }
  });

  it('ships an executable bin', () => {
    expect(statSync(new URL('../bin/tollgate.js', import.meta.url)).mode & 0o111).not.toBe(0);
  });
});
