/**
 * `start --watch` reloads on every change, also after the file was replaced by a rename (`sed -i`, most
 * editors, deploy tools): a watch on the file itself follows the old inode and misses later edits.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { closeAll, startUpstream } from '../helpers/upstream.js';

let dir: string;
let upstreamUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-watch-'));
  upstreamUrl = (await startUpstream()).url;
});
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const config = (...prefixes: string[]) =>
  `upstreams: { app: { url: "${upstreamUrl}" } }\nroutes:\n${prefixes.map((p) => `  - { match: { prefix: /${p}/ }, upstream: app }\n`).join('')}`;

async function statusWithin(url: string, want: number, ms = 5_000): Promise<number> {
  let status = 0;
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    status = (await fetch(url)).status;
    if (status === want) break;
  }
  return status;
}

describe('start --watch', () => {
  it('reloads after a rename-replace, and again on a later in-place edit', async () => {
    const file = join(dir, 'gw.yaml');
    writeFileSync(file, config('a'));
    const gw = await startCli(['start', '-c', file, '--watch', '--port', '0', '--host', '127.0.0.1', '--admin-port', '0'], {});
    try {
      expect((await fetch(`${gw.url}/a/x`)).status).toBe(200);
      expect((await fetch(`${gw.url}/b/x`)).status).toBe(404);

      // An atomic save: write a sibling, rename it over the config.
      const tmp = join(dir, '.gw.yaml.tmp');
      writeFileSync(tmp, config('a', 'b'));
      renameSync(tmp, file);
      expect(await statusWithin(`${gw.url}/b/x`, 200)).toBe(200);

      // A later edit of the new file.
      writeFileSync(file, config('a', 'b', 'c'));
      expect(await statusWithin(`${gw.url}/c/x`, 200)).toBe(200);

      // And another atomic save after that.
      writeFileSync(tmp, config('d'));
      renameSync(tmp, file);
      expect(await statusWithin(`${gw.url}/a/x`, 404)).toBe(404);
      expect((await fetch(`${gw.url}/d/x`)).status).toBe(200);
      expect(gw.output()).not.toContain('reload failed');
    } finally {
      expect(await gw.stop('SIGTERM')).toBe(0);
    }
  }, 30_000);
});
