/**
 * Access-log lines are buffered (large writes): the lines of the last requests before SIGTERM, and before a
 * crash (an uncaught exception), must still reach the log file, whether stdout is a file or a pipe.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { closeAll, startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

const crashPolicy = fileURLToPath(new URL('../fixtures/custom/crash-policy.mjs', import.meta.url));
let dir: string;
let up: TestUpstream;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-log-exit-'));
  up = await startUpstream();
});
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `tollgate start` with stdout to a file (or a pipe whose bytes are collected); resolves at its listening line. */
async function start(toFile: boolean) {
  const cfg = join(dir, `g-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(cfg, `upstreams: { app: { url: "${up.url}" } }\nroutes:\n  - name: app\n    match: { prefix: / }\n    upstream: app\n    policies: [{ custom: { module: "${crashPolicy}" } }]\nadmin: { enabled: false }\nlog: { format: json }\n`);
  const out = `${cfg}.log`;
  const child = spawn(process.execPath, [BIN, 'start', '-c', cfg, '--port', '0', '--host', '127.0.0.1'], {
    stdio: ['ignore', toFile ? openSync(out, 'w') : 'pipe', 'pipe'],
  });
  let piped = '';
  child.stdout?.on('data', (d: Buffer) => (piped += d.toString()));
  const read = () => (toFile ? readFileSync(out, 'utf8') : piped);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 200 && !/listening on (http:\S+)/.test(read()); i++) await new Promise((r) => setTimeout(r, 25));
  const url = /listening on (http:\S+)/.exec(read())?.[1];
  if (!url) throw new Error(`gateway did not start: ${read()}`);
  // After exit, a pipe's last bytes still have to be read.
  const closed = new Promise<void>((resolve) => (child.stdout ? child.stdout.on('close', () => resolve()) : resolve()));
  return { child, url, read, exited, closed };
}

const requestLines = (text: string) => text.split('\n').filter((l) => l.includes('"msg":"request"'));

describe('access-log lines reach the log on exit', () => {
  for (const toFile of [true, false]) {
    const where = toFile ? 'a file' : 'a pipe';
    it(`the line of a request answered right before SIGTERM is in ${where}`, async () => {
      const g = await start(toFile);
      const r = await fetch(`${g.url}/last?id=before-sigterm`);
      expect(r.status).toBe(200);
      await r.text();
      g.child.kill('SIGTERM');
      expect(await g.exited).toBe(0);
      await g.closed;
      const lines = requestLines(g.read());
      expect(lines.some((l) => l.includes('before-sigterm'))).toBe(true);
    });

    it(`the lines of requests answered right before a crash are in ${where}`, async () => {
      const g = await start(toFile);
      for (let i = 0; i < 20; i++) await (await fetch(`${g.url}/n?id=before-crash-${i}`)).text();
      await (await fetch(`${g.url}/boom?crash=1`)).text();
      expect(await g.exited).not.toBe(0);
      await g.closed;
      const lines = requestLines(g.read());
      for (let i = 0; i < 20; i++) expect(lines.some((l) => l.includes(`before-crash-${i}"`))).toBe(true);
      expect(lines.some((l) => l.includes('crash=1'))).toBe(true);
    });
  }
});
