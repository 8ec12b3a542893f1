/**
 * `tollgate cache stats` / `purge` next to a running gateway: they must not discard the gateway's fill in
 * progress (opening a disk store used to empty its tmp/), and they need only the cache's own variables, not
 * every ${VAR} of the config. Leftovers of a dead process are still cleaned when the gateway opens the store.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDiskStore } from '../../src/cache/stores/disk.js';
import { runCli } from '../helpers/cli.js';
import { closeAll, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

const HALF = 512 * 1024;
let dir: string;
let up: TestUpstream;
let release: () => void = () => undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-cache-cli-'));
  // Sends half of the body, then waits until the test releases the rest.
  up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(2 * HALF), 'cache-control': 'max-age=600' });
    res.write(Buffer.alloc(HALF, 1));
    release = () => res.end(Buffer.alloc(HALF, 2));
  });
});
afterAll(async () => {
  release();
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const config = `
upstreams: { app: { url: "\${UPSTREAM_URL}" } }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - cache: { store: disk, dir: ./cache }
`;

const tmpFiles = () => readdirSync(join(dir, 'cache', 'v1', 'tmp'));

describe('cache stats and purge next to a running gateway', () => {
  it('do not discard a fill in progress, and do not need UPSTREAM_URL', async () => {
    const file = join(dir, 'gw.yaml');
    writeFileSync(file, config);
    const gw = await startTestGateway('', { configFile: file, env: { UPSTREAM_URL: up.url } });
    const res = await fetch(`${gw.url}/big.bin`);
    const reader = res.body!.getReader();
    let got = 0;
    while (got < HALF) got += (await reader.read()).value?.length ?? 0;
    expect(tmpFiles()).toHaveLength(1);

    // The shell running the CLI has no UPSTREAM_URL: the cache does not need it.
    const stats = await runCli(['cache', 'stats', '-c', file, '--json'], { env: { UPSTREAM_URL: undefined } });
    expect(stats.stderr).toBe('');
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject([{ entries: 0 }]);
    const purge = await runCli(['cache', 'purge', '/other', '-c', file], { env: { UPSTREAM_URL: undefined } });
    expect(purge.code).toBe(0);
    expect(tmpFiles()).toHaveLength(1);

    release();
    for (let r = await reader.read(); !r.done; r = await reader.read()) got += r.value.length;
    expect(got).toBe(2 * HALF);
    // The fill committed: the next request is a hit.
    let cache: string | null = null;
    for (let i = 0; i < 40 && cache !== 'HIT'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      cache = (await fetch(`${gw.url}/big.bin`).then(async (r) => (await r.arrayBuffer(), r))).headers.get('x-cache');
    }
    expect(cache).toBe('HIT');
    expect(up.requests).toHaveLength(1);
  });

  it("a problem in the cache's own settings is still reported", async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, config.replace('dir: ./cache', 'dir: ./cache, ttl: "${CACHE_TTL}"'));
    const r = await runCli(['cache', 'stats', '-c', file], { env: { UPSTREAM_URL: undefined, CACHE_TTL: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('environment variable CACHE_TTL is not set');
  });

  it("opening the store in the gateway removes a dead process's leftovers and long-idle files, never a live fill", async () => {
    const cacheDir = join(dir, 'sweep');
    mkdirSync(join(cacheDir, 'v1', 'tmp'), { recursive: true });
    const child = spawn(process.execPath, ['-e', '']);
    const deadPid = await new Promise<number>((r) => child.on('exit', () => r(child.pid!)));
    const tmp = (name: string) => join(cacheDir, 'v1', 'tmp', name);
    writeFileSync(tmp(`${deadPid}-aaaa`), 'dead owner');
    writeFileSync(tmp(`${process.ppid}-bbbb`), 'live owner (this test runner), fresh');
    writeFileSync(tmp('cccc'), 'old format, fresh');
    writeFileSync(tmp(`${process.ppid}-dddd`), 'live owner, idle for two hours');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(tmp(`${process.ppid}-dddd`), twoHoursAgo, twoHoursAgo);
    const store = await openDiskStore({ dir: cacheDir });
    await store.close();
    expect(readdirSync(join(cacheDir, 'v1', 'tmp')).sort()).toEqual([`${process.ppid}-bbbb`, 'cccc']);
    expect(statSync(tmp('cccc')).size).toBeGreaterThan(0);
  });
});
