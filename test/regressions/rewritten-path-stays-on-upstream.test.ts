/**
 * The escape rules hold for the path the gateway sends, not only the one it received: stripping a prefix or
 * applying a rewrite never hands the upstream a target starting with `//` (read as another host by many
 * backends), nor one with dot segments or an encoded slash in front.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

afterEach(closeAll);

async function gateway() {
  const up = await startUpstream();
  const gw = await startTestGateway(`
upstreams:
  app: { url: "${up.url}" }
routes:
  - match: { prefix: /api/ }
    upstream: app
    stripPrefix: true
  - match: { prefix: /bare }
    upstream: app
    stripPrefix: true
  - match: { pattern: /p/:id/* }
    upstream: app
    stripPrefix: true
  - match: { pattern: /files/* }
    upstream: app
    rewrite: /*
  - match: { pattern: /u/:id/* }
    upstream: app
    rewrite: /:id/*
`);
  return { up, gw };
}

const last = (up: TestUpstream) => up.requests[up.requests.length - 1]?.url;

describe('the path sent upstream after stripPrefix or rewrite', () => {
  it.each([
    ['/api///127.0.0.1:18099/x', '/127.0.0.1:18099/x'],
    ['/api//evil.example/x?q=1', '/evil.example/x?q=1'],
    ['/bare//evil.example/x', '/evil.example/x'],
    ['/p/7//evil.example/x', '/evil.example/x'],
    ['/files//evil.example/x', '/evil.example/x'],
    ['/u/a//evil.example', '/a/evil.example'],
  ])('%s reaches the upstream as %s, never with a leading //', async (path, want) => {
    const { up, gw } = await gateway();
    const r = await send(gw.url, { path });
    expect(r.status).toBe(200);
    expect(last(up)).toBe(want);
  });

  it.each(['/api/%2F127.0.0.1:18099/x', '/api/%2f%2fevil.example/x', '/bare/%2F/x'])('%s (an encoded slash left in front) is refused with 400', async (path) => {
    const { up, gw } = await gateway();
    const r = await send(gw.url, { path });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ code: 'TG_BAD_PATH' });
    expect(up.requests).toHaveLength(0);
  });

  it('ordinary stripped and rewritten paths are unchanged', async () => {
    const { up, gw } = await gateway();
    await send(gw.url, { path: '/api/users/a%2Fb?x=%20' });
    expect(last(up)).toBe('/users/a%2Fb?x=%20');
    await send(gw.url, { path: '/files/deep/er/f.txt' });
    expect(last(up)).toBe('/deep/er/f.txt');
    await send(gw.url, { path: '/u/5/x' });
    expect(last(up)).toBe('/5/x');
  });
});
