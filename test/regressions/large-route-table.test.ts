/**
 * A config of 5000 routes: `tollgate check` accepts and lists it (through the compiled binary), and the
 * gateway routes by written order over it — the last prefix route, an exact path and a :param pattern
 * behind thousands of others, an earlier route beating a later one, and 405 with Allow.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-routes-'));
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

function bigConfig(upstream: string): string {
  const routes: string[] = [];
  // An early pattern that wins over the exact path written after it for GET only.
  routes.push('  - { name: early, match: { pattern: /things/:id, methods: [GET] }, upstream: app, rewrite: /early/:id }');
  for (let i = 0; i < 4996; i++) routes.push(`  - { name: r${i}, match: { prefix: /r${i}/ }, upstream: app }`);
  routes.push('  - { name: exact, match: { path: /things/42 }, upstream: app, rewrite: /exact }');
  routes.push('  - { name: users, match: { pattern: /users/:id/orders }, upstream: app, rewrite: /orders/:id }');
  routes.push('  - { name: last, match: { prefix: /last/, methods: [GET, PUT] }, upstream: app }');
  return ['upstreams:', `  app: { url: "${upstream}" }`, 'routes:', ...routes, ''].join('\n');
}

describe('a 5000-route config', () => {
  it('tollgate check accepts it and lists every route', async () => {
    const file = join(dir, 'big.yaml');
    writeFileSync(file, bigConfig('http://127.0.0.1:9'));
    const r = await runCli(['check', '-c', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('routes (5000, first match wins):');
    expect(r.stdout).toContain('5000. last: prefix /last/');
  });

  it('routes in written order, wherever the route sits', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(bigConfig(up.url));
    const at = async (method: string, path: string) => {
      const before = up.requests.length;
      const res = await send(gw.url, { method, path });
      return { status: res.status, allow: res.headers.allow, upstreamPath: up.requests.length > before ? up.requests.at(-1)!.url : undefined };
    };
    expect(await at('GET', '/r4995/x')).toMatchObject({ status: 200, upstreamPath: '/r4995/x' });
    expect(await at('GET', '/last/deep/path')).toMatchObject({ status: 200, upstreamPath: '/last/deep/path' });
    expect(await at('GET', '/users/7/orders')).toMatchObject({ status: 200, upstreamPath: '/orders/7' });
    expect(await at('GET', '/things/42')).toMatchObject({ status: 200, upstreamPath: '/early/42' });
    expect(await at('POST', '/things/42')).toMatchObject({ status: 200, upstreamPath: '/exact' });
    expect(await at('DELETE', '/last/x')).toMatchObject({ status: 405, allow: 'GET, PUT', upstreamPath: undefined });
    expect(await at('GET', '/r4996/x')).toMatchObject({ status: 404, upstreamPath: undefined });
  });
});
