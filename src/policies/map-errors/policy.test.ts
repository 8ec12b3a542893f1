import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, gatewayWithPolicies, send, startTestGateway } from '../../../test/helpers/gateway.js';
import type { Answer } from '../../../test/helpers/upstream.js';

afterEach(closeAll);

const RULES = `
          peekBytes: 64
          rules:
            - when: { status: 200, bodyMatches: "^ERROR: (.+)$", flags: m }
              respond: { status: 403, json: { error: "$1" } }
            - when: { status: [500, 503], jsonPath: error.message }
              respond: { status: 502, json: { error: "upstream said: $1", retry: false } }`;

function gatewayWith(answer: Answer) {
  return gatewayWithPolicies(answer, `\n      - map-errors:${RULES}`);
}

describe('map-errors', () => {
  it('turns a 200 "ERROR: …" text into a 403 JSON error built from the capture group', async () => {
    const { gw } = await gatewayWith((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': '1' });
      res.end('ERROR: invalid key!\n');
    });
    const r = await send(gw.url, { path: '/' });
    expect(r.status).toBe(403);
    expect(r.json()).toEqual({ error: 'invalid key!' });
    expect(r.headers['content-type']).toContain('application/json');
    expect(r.headers['x-upstream']).toBeUndefined();
  });

  it('matches a JSON path in error bodies', async () => {
    const { gw } = await gatewayWith((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"maintenance"}}');
    });
    const r = await send(gw.url, { path: '/' });
    expect(r.status).toBe(502);
    expect(r.json()).toEqual({ error: 'upstream said: maintenance', retry: false });
  });

  it('streams non-matching bodies on byte for byte, however large', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const { gw } = await gatewayWith((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/zip' });
      let off = 0;
      const pump = () => {
        while (off < payload.length) {
          const next = payload.subarray(off, off + 50_000);
          off += next.length;
          if (!res.write(next)) return res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const r = await send(gw.url, { path: '/' });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(payload.length);
    expect(r.body.equals(payload)).toBe(true);
  });

  it('does not look at responses whose status no rule names', async () => {
    const { gw } = await gatewayWith((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('ERROR: not here');
    });
    const r = await send(gw.url, { path: '/' });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe('ERROR: not here');
  });

  it('replaces a long matching body and keeps serving on the same upstream', async () => {
    let n = 0;
    const { gw } = await gatewayWith((_req, res) => {
      n++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(n === 1 ? 'ERROR: x' + '\n'.repeat(1) + 'y'.repeat(100_000) : 'fine');
    });
    const r = await send(gw.url, { path: '/' });
    expect(r.status).toBe(403);
    expect(r.json()).toEqual({ error: 'x' });
    const again = await send(gw.url, { path: '/' });
    expect(again.body.toString()).toBe('fine');
  });

  it('rejects an invalid regular expression when the config loads', async () => {
    const err = await startTestGateway(`
upstreams:
  app: { url: "http://127.0.0.1:9" }
routes:
  - match: { prefix: / }
    upstream: app
    policies: [{ map-errors: [{ when: { bodyMatches: "(" }, respond: { status: 400 } }] }]
`).catch((e: Error) => e);
    expect(String(err)).toContain('not a valid regular expression');
  });
});
