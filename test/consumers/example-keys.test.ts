/** examples/keys.yaml as a user runs it: the demo key from DEMO_API_KEY, 5 per minute, anonymous 2 per minute per IP. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { awayFromMinuteBoundary } from '../helpers/clock.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/keys.yaml', import.meta.url));
const KEY = 'demo-key-for-the-example';

let dir: string | undefined;
afterEach(async () => {
  await closeAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function boot() {
  const up = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'tollgate-example-'));
  const env = { ...process.env, UPSTREAM_URL: up.url, DEMO_API_KEY: KEY, TOLLGATE_STORE: `sqlite:${join(dir, 'keys.db')}`, TOLLGATE_REDIS_URL: '' };
  return { gw: await startTestGateway('', { configFile: EXAMPLE, env }), up };
}

describe('examples/keys.yaml', () => {
  it('/private/ takes the demo key in x-api-key or ?api_key, 5 per minute, then 429', async () => {
    await awayFromMinuteBoundary();
    const { gw, up } = await boot();
    expect((await send(gw.url, { path: '/private/hello' })).status).toBe(401);
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await send(gw.url, { path: '/private/hello', headers: { 'x-api-key': KEY } })).status);
    for (let i = 0; i < 3; i++) codes.push((await send(gw.url, { path: `/private/hello?api_key=${KEY}` })).status);
    expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
    expect(up.requests.map((r) => r.url)).toEqual(Array(5).fill('/private/hello'));
  });

  it('/public/ is anonymous, 2 per minute per client IP', async () => {
    await awayFromMinuteBoundary();
    const { gw } = await boot();
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await send(gw.url, { path: '/public/hello' })).status);
    expect(codes).toEqual([200, 200, 429]);
  });
});
