import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../src/config/load.js';
import { closeAll, echo, startUpstream } from './helpers/upstream.js';
import { rawHeader, startTestGateway } from './helpers/gateway.js';

afterEach(closeAll);
const mod = fileURLToPath(new URL('./fixtures/custom/stamp-policy.mjs', import.meta.url));

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

  it('reports a module that cannot be loaded or rejects its options as a config error', async () => {
    await expect(
      startTestGateway(`routes:\n  - match: { path: /x }\n    respond: { status: 200 }\n    policies:\n      - custom: { module: ./does-not-exist.mjs }\n`),
    ).rejects.toThrow(/cannot load custom policy module/);
    const err = await startTestGateway(`routes:\n  - match: { path: /x }\n    respond: { status: 200 }\n    policies:\n      - custom: { module: "${mod}", options: { header: 3 } }\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/test\.yaml:5: routes\[0\]\.policies\[0\]\.custom: options rejected by .*options\.header must be a string/);
  });
});
