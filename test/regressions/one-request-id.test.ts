/**
 * Every response carries exactly one x-request-id, the gateway's (the one the upstream was sent); an upstream's
 * own x-request-id is passed on as x-upstream-request-id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, rawHeader, send, startTestGateway } from '../helpers/gateway.js';
import type { SendResult } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import type { Answer, TestUpstream } from '../helpers/upstream.js';

afterEach(closeAll);

const withOwnId: Answer = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'upstream-id-1', 'cache-control': 'max-age=60' });
  res.end('{"ok":true}');
};

function idsOf(r: SendResult): string[] {
  const ids: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i].toLowerCase() === 'x-request-id') ids.push(r.rawHeaders[i + 1]);
  return ids;
}

const sentUpstream = (up: TestUpstream) => rawHeader(up.requests[up.requests.length - 1].rawHeaders, 'x-request-id');

describe('x-request-id on responses', () => {
  it.each([
    ['a plain route', ''],
    ['a route with a response policy', '\n    policies: [{ rewrite-urls: {} }]'],
    ['a cached route', '\n    policies: [{ cache: {} }]'],
  ])('%s answers one x-request-id (the gateway\'s) and the upstream\'s as x-upstream-request-id', async (_what, extra) => {
    const up = await startUpstream(withOwnId);
    const gw = await startTestGateway(`upstreams: { app: { url: "${up.url}" } }\nroutes:\n  - match: { prefix: / }\n    upstream: app${extra}\n`);
    const r = await send(gw.url, { path: '/x', headers: { 'x-request-id': 'client-id-1' } });
    expect(r.status).toBe(200);
    expect(idsOf(r)).toEqual(['client-id-1']);
    expect(sentUpstream(up)).toBe('client-id-1');
    expect(r.headers['x-upstream-request-id']).toBe('upstream-id-1');
    // A second answer (from the cache on the cached route) still has one id, its own.
    const again = await send(gw.url, { path: '/x' });
    expect(idsOf(again)).toHaveLength(1);
    expect(idsOf(again)[0]).not.toBe('client-id-1');
  });

  it("a route's own reply that names x-request-id still answers one, the gateway's", async () => {
    const gw = await startTestGateway(`routes:\n  - match: { prefix: / }\n    respond: { headers: { x-request-id: fixed }, body: hi }\n`);
    const r = await send(gw.url, { path: '/x', headers: { 'x-request-id': 'client-id-2' } });
    expect(idsOf(r)).toEqual(['client-id-2']);
  });
});
