import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-tls-'));
let server: Server;
let url: string;

beforeAll(async () => {
  // A self-signed certificate for 127.0.0.1, made fresh for this run.
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ secure: true, path: req.url }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());
afterEach(closeAll);

const cfg = (tls: string) => `upstreams:\n  secure:\n    url: "${url}"\n    tls: ${tls}\nroutes:\n  - match: { prefix: / }\n    upstream: secure\n`;

describe('https upstreams', () => {
  it('refuses an upstream whose certificate is not trusted (502), by default', async () => {
    const gw = await startTestGateway(cfg('{}'));
    const res = await fetch(`${gw.url}/x`);
    expect(res.status).toBe(502);
    expect(((await res.json()) as { code: string }).code).toBe('TG_UPSTREAM_ERROR');
  });

  it('trusts an upstream signed by the configured CA file', async () => {
    const gw = await startTestGateway(cfg(`{ ca: "${join(dir, 'cert.pem')}" }`));
    const res = await fetch(`${gw.url}/x?y=1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ secure: true, path: '/x?y=1' });
  });

  it('skips verification only when explicitly asked to', async () => {
    const gw = await startTestGateway(cfg('{ insecureSkipVerify: true }'));
    expect((await fetch(`${gw.url}/x`)).status).toBe(200);
  });
});
