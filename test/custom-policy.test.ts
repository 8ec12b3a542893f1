import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../src/config/load.js';
import { closeAll, echo, startUpstream } from './helpers/upstream.js';
import { rawHeader, startTestGateway } from './helpers/gateway.js';
import { runCli, startCli } from './helpers/cli.js';
import type { Running } from './helpers/cli.js';

afterEach(closeAll);
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/custom/${name}`, import.meta.url));
const mod = fixture('stamp-policy.mjs');

describe('custom policies', () => {
  it("runs a user's module with the same hooks as the built-in policies", async () => {
    const up = await startUpstream(echo);
    const gw = await startTestGateway(
      `upstreams: { app: { url: "${up.url}" } }\nroutes:\n  - name: mine\n    match: { prefix: / }\n    upstream: app\n    policies:\n      - custom: { module: "${mod}", options: { header: x-stamp } }\n`,
    );
    const res = await fetch(`${gw.url}/hello`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-custom-seen')).toBe('1');
    expect(rawHeader(up.requests[0].rawHeaders, 'x-stamp')).toBe('mine:1');

    const denied = await fetch(`${gw.url}/hello?deny=1`);
    expect(denied.status).toBe(418);
    expect(await denied.text()).toBe('denied by custom policy');
    expect(up.requests).toHaveLength(1);
  });

  it('keeps the deprecated ex.clientUrl and ex.state working for modules written before ex.client and typed state', async () => {
    const up = await startUpstream(echo);
    const gw = await startTestGateway(
      `upstreams: { app: { url: "${up.url}" } }\nroutes:\n  - match: { prefix: /api }\n    upstream: app\n    stripPrefix: true\n    policies:\n      - custom: { module: "${fixture('legacy-exchange-policy.mjs')}" }\n`,
    );
    const res = await fetch(`${gw.url}/api/items?page=2`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-seen-url')).toBe('/api/items?page=2');
    expect(rawHeader(up.requests[0].rawHeaders, 'x-client-path')).toBe('/api/items');
    expect(up.requests[0].url).toBe('/items?page=2');
  });

  it('reports a module that cannot be loaded or rejects its options as a config error', async () => {
    await expect(
      startTestGateway(`routes:\n  - match: { path: /x }\n    respond: { status: 200 }\n    policies:\n      - custom: { module: ./does-not-exist.mjs }\n`),
    ).rejects.toThrow(/cannot load custom policy module/);
    const err = await startTestGateway(`routes:\n  - match: { path: /x }\n    respond: { status: 200 }\n    policies:\n      - custom: { module: "${mod}", options: { header: 3 } }\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/test\.yaml:5: routes\[0\]\.policies\[0\]\.custom: options rejected by .*options\.header must be a string/);
  });
});

describe('custom policies run in the priority their modules declare', () => {
  // Written low first, high second: the declared priorities (400, 600) reverse that order.
  const route = (high = '') => `upstreams: { app: { url: "UP" } }
routes:
  - match: { prefix: / }
    upstream: app
    policies:
      - custom: { module: "${fixture('low-priority.mjs')}", options: { tag: low } }
      - custom: { module: "${fixture('high-priority.mjs')}", options: { tag: high }${high} }
`;

  it('runs the higher declared priority first on the way in and last on the way out', async () => {
    const up = await startUpstream(echo);
    const gw = await startTestGateway(route().replace('UP', up.url));
    const res = await fetch(`${gw.url}/x`);
    expect(res.status).toBe(200);
    expect(rawHeader(up.requests[0].rawHeaders, 'x-policy-order')).toBe('high,low');
    expect(res.headers.get('x-policy-order-out')).toBe('low,high');
  });

  it('lets the policy declared first answer before the one written first runs', async () => {
    const up = await startUpstream(echo);
    const gw = await startTestGateway(route().replace('UP', up.url));
    const stopped = await fetch(`${gw.url}/x?stop=high`);
    expect(stopped.status).toBe(403);
    expect(await stopped.text()).toBe('stopped by high');
    // Nothing ran before it, so no response hook saw its reply.
    expect(stopped.headers.get('x-policy-order-out')).toBeNull();
    const byLow = await fetch(`${gw.url}/x?stop=low`);
    expect(byLow.status).toBe(403);
    expect(byLow.headers.get('x-policy-order-out')).toBe('high');
    expect(up.requests).toHaveLength(0);
  });

  it("keeps the route's own priority option above the module's declaration", async () => {
    const up = await startUpstream(echo);
    const gw = await startTestGateway(route(', priority: 100').replace('UP', up.url));
    await fetch(`${gw.url}/x`);
    expect(rawHeader(up.requests[0].rawHeaders, 'x-policy-order')).toBe('low,high');
  });

  it('reports a declared priority that is not a number as a config error naming the module', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-custom-'));
    writeFileSync(join(dir, 'odd.mjs'), `export default { priority: 'high', create: () => ({}) };\n`);
    const err = await startTestGateway(`routes:\n  - match: { path: /x }\n    respond: { status: 200 }\n    policies:\n      - custom: { module: "${join(dir, 'odd.mjs')}" }\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/test\.yaml:5: .*odd\.mjs declares priority "high": expected a number/);
  });
});

// Through the built CLI (npm run build first), as a user runs it: the test runner would otherwise compile the
// TypeScript itself and hide whether the gateway can.
describe('custom policies written in TypeScript', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-custom-ts-'));
  let gw: Running | undefined;
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });

  it('loads a .ts module with type annotations, interfaces and type imports, and runs it on requests', async () => {
    const up = await startUpstream(echo);
    const file = join(dir, 'ts.yaml');
    writeFileSync(
      file,
      `upstreams: { app: { url: "${up.url}" } }\nroutes:\n  - name: ts-route\n    match: { prefix: / }\n    upstream: app\n    policies:\n      - custom: { module: "${fixture('greeting-policy.ts')}", options: { header: x-greeting, refuse: /blocked } }\n`,
    );
    const check = await runCli(['check', '-c', file]);
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('custom[650]');

    gw = await startCli(['start', '-c', file, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
    const res = await fetch(`${gw.url}/hello`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-greeted')).toBe('1');
    expect(rawHeader(up.requests[0].rawHeaders, 'x-greeting')).toBe('hello from ts-route (#1)');
    const refused = await fetch(`${gw.url}/blocked`);
    expect(refused.status).toBe(451);
    expect(await refused.text()).toBe('refused by a TypeScript policy');
    expect(up.requests).toHaveLength(1);
  });

  it('reports a .ts module with a syntax error as a config error naming the file and line', async () => {
    writeFileSync(join(dir, 'broken.ts'), `interface Options { tag: string }\nexport default function (o: Options) {\n  return o.tag +;\n}\n`);
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, `routes:\n  - match: { path: /x }\n    respond: { status: 200 }\n    policies:\n      - custom: { module: ./broken.ts }\n`);
    for (const args of [['check', '-c', file], ['start', '-c', file, '--port', '0', '--admin-port', '0']]) {
      const r = await runCli(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/broken\.yaml:5: routes\[0\]\.policies\[0\]\.custom: cannot load custom policy module \S*broken\.ts:3:17: Unexpected token/);
    }
  });
});
