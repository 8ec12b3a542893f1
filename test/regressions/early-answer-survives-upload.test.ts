/**
 * An answer the gateway gives before reading an upload (413, 404, 401, a route's own reply) reaches the
 * client that is still sending its body, instead of being lost in a TCP reset (lingering close).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeAll, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

afterEach(closeAll);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-linger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const UPLOAD = 10 * 1024 * 1024;
const run = promisify(execFile);

/**
 * The client runs in its own process, as a real one does (in the gateway's process the answer is always read
 * before the reset arrives, which hides the bug). It writes the head and the 10 MiB body at once, as curl does,
 * `tries` times on new connections, and prints what it read before each connection ended.
 */
const CLIENT = `
import { connect } from 'node:net';
const [port, path, tries, size] = process.argv.slice(1);
const out = [];
for (let i = 0; i < Number(tries); i++) {
  out.push(await new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    let error;
    socket.on('data', (c) => (received += c.toString('latin1')));
    socket.on('error', (e) => (error = e.code));
    // A kept-alive connection would stay open: the answer is all this client waits for.
    let gaveUp = false;
    const timer = setTimeout(() => ((gaveUp = true), socket.destroy()), 3000);
    socket.on('close', () => (clearTimeout(timer), resolve({ received, error, gaveUp })));
    socket.write('POST ' + path + ' HTTP/1.1\\r\\nHost: gw\\r\\nContent-Type: application/octet-stream\\r\\nContent-Length: ' + size + '\\r\\n\\r\\n');
    socket.write(Buffer.alloc(Number(size), 0x61));
  }));
}
console.log(JSON.stringify(out));
`;

async function uploads(port: number, path: string, tries: number): Promise<{ received: string; error?: string; gaveUp: boolean }[]> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CLIENT, String(port), path, String(tries), String(UPLOAD)]);
  return JSON.parse(stdout) as { received: string; error?: string; gaveUp: boolean }[];
}

describe('an early answer to an upload is read by the client', () => {
  it('413 for a declared 10 MiB body on a 1 MiB route, every time', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(`upstreams: { app: { url: "${up.url}" } }\nroutes: [{ match: { prefix: / }, upstream: app, maxBodySize: 1MiB }]\n`);
    const all = await uploads(gw.port, '/up', 10);
    all.forEach((r, i) => {
      expect(r.received, `try ${i + 1} (${r.error ?? 'no socket error'})`).toMatch(/^HTTP\/1\.1 413 /);
      expect(r.received).toContain('"code":"TG_BODY_TOO_LARGE"');
      expect(r.received).toMatch(/\r\nconnection: close\r\n/i);
    });
    expect(up.requests).toHaveLength(0);
  });

  it('404, a route reply and a 401 before the body was read: answered with close, the upload is not read to its end', async () => {
    const gw = await startTestGateway(`
store: "sqlite:${join(dir, 'store.db')}"
routes:
  - match: { prefix: /mock/ }
    respond: { status: 403, json: { nope: true } }
  - match: { prefix: /keyed/ }
    respond: { json: { ok: true } }
    policies: [{ auth: { apiKey: { header: x-api-key } } }]
`);
    for (const [path, status] of [['/nowhere', 404], ['/mock/x', 403], ['/keyed/x', 401]] as const) {
      const all = await uploads(gw.port, path, 3);
      all.forEach((r, i) => {
        expect(r.received, `${path} try ${i + 1} (${r.error ?? 'no socket error'})`).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        expect(r.received).toMatch(/\r\nconnection: close\r\n/i);
        // Closed by the gateway after its bounded lingering, not kept open while 10 MiB nobody wants are read.
        expect(r.gaveUp).toBe(false);
      });
    }
  }, 60_000);
});
