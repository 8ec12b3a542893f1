import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/load.js';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';
import type { Answer } from './helpers/upstream.js';

afterEach(closeAll);

const dir = mkdtempSync(join(tmpdir(), 'tollgate-lifecycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const says = (text: string): Answer => (_req, res) => res.end(text);

const configFor = (upstreamUrl: string) => `
upstreams:
  app: { url: "${upstreamUrl}" }
routes:
  - name: app
    match: { prefix: / }
    upstream: app
`;

/** A gateway reading its config from a file the test rewrites before each reload. */
async function fileGateway(upstreamUrl: string) {
  const file = join(dir, `tollgate-${++fileNo}.yaml`);
  writeFileSync(file, configFor(upstreamUrl));
  const gw = await startTestGateway('', { configFile: file });
  return { gw, file, point: (url: string) => writeFileSync(file, configFor(url)) };
}

/** Runs `total` GETs with `concurrency` workers over keep-alive connections; counts answers per body. */
async function load(url: string, total: number, concurrency: number, onDone?: (done: number) => void) {
  let started = 0;
  let done = 0;
  const failures: string[] = [];
  const bodies = new Map<string, number>();
  const worker = async () => {
    while (started < total) {
      started++;
      try {
        const r = await fetch(url);
        const text = await r.text();
        if (r.status !== 200) failures.push(`${r.status} ${text}`);
        else bodies.set(text, (bodies.get(text) ?? 0) + 1);
      } catch (e) {
        failures.push(String((e as Error).cause ?? e));
      }
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { failures, bodies };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('reload', () => {
  it('reloading 5 times under load fails no request, and afterwards requests go to the new upstream', async () => {
    const a = await startUpstream(says('A'));
    const b = await startUpstream(says('B'));
    const { gw, point } = await fileGateway(a.url);
    const reloads: Promise<void>[] = [];
    let next = 'B';
    const result = await load(gw.url + '/work', 300, 20, (done) => {
      if (done % 50 === 0 && reloads.length < 5) {
        point(next === 'B' ? b.url : a.url);
        next = next === 'B' ? 'A' : 'B';
        reloads.push(gw.gateway.reload());
      }
    });
    await Promise.all(reloads);
    expect(reloads).toHaveLength(5);
    expect(result.failures).toEqual([]);
    expect((result.bodies.get('A') ?? 0) + (result.bodies.get('B') ?? 0)).toBe(300);
    // The switches happened while requests were running: both upstreams served part of the load.
    expect(result.bodies.get('A')).toBeGreaterThan(0);
    expect(result.bodies.get('B')).toBeGreaterThan(0);
    // Five switches starting from A end on B.
    const after = await load(gw.url + '/after', 20, 5);
    expect(after.failures).toEqual([]);
    expect([...after.bodies]).toEqual([['B', 20]]);
  });

  it('a request in flight during a reload finishes on the config it started with', async () => {
    const a = await startUpstream((_req, res) => void setTimeout(() => res.end('A, slowly'), 300));
    const b = await startUpstream(says('B'));
    const { gw, point } = await fileGateway(a.url);
    const slow = send(gw.url, { path: '/slow' });
    await waitFor(() => a.requests.length === 1, 'the slow request to reach upstream A');
    point(b.url);
    await gw.gateway.reload();
    expect((await send(gw.url, { path: '/fast' })).body.toString()).toBe('B');
    const r = await slow;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('A, slowly');
  });

  it('a reload with a broken config throws a ConfigError and the old config keeps serving', async () => {
    const a = await startUpstream(says('A'));
    const { gw, file } = await fileGateway(a.url);
    writeFileSync(file, `
upstreams:
  app: { url: "${a.url}" }
routes:
  - match: { prefix: / }
    upstream: nowhere
`);
    const err = await gw.gateway.reload().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('nowhere');
    const r = await send(gw.url, { path: '/still' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('A');
  });

  it('a reload with invalid YAML keeps the old config, and a later good reload still works', async () => {
    const a = await startUpstream(says('A'));
    const b = await startUpstream(says('B'));
    const { gw, file, point } = await fileGateway(a.url);
    writeFileSync(file, 'routes: [ {{ not yaml');
    await expect(gw.gateway.reload()).rejects.toBeInstanceOf(ConfigError);
    expect((await send(gw.url, { path: '/' })).body.toString()).toBe('A');
    point(b.url);
    await gw.gateway.reload();
    expect((await send(gw.url, { path: '/' })).body.toString()).toBe('B');
  });
});

describe('graceful shutdown', () => {
  it('a request in flight completes with 200 while shutdown runs; new connections are refused after', async () => {
    const up = await startUpstream((_req, res) => void setTimeout(() => res.end('finished'), 500));
    const gw = await startTestGateway(configFor(up.url));
    const inflight = send(gw.url, { path: '/slow' });
    await waitFor(() => up.requests.length === 1, 'the request to reach the upstream');
    const shutdown = gw.close();
    const r = await inflight;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('finished');
    await shutdown;
    await expect(send(gw.url, { path: '/after' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('/readyz answers 503 while the gateway drains', async () => {
    const up = await startUpstream((_req, res) => void setTimeout(() => res.end('finished'), 500));
    const gw = await startTestGateway(configFor(up.url));
    const inflight = send(gw.url, { path: '/slow' });
    await waitFor(() => up.requests.length === 1, 'the request to reach the upstream');
    const shutdown = gw.close();
    const ready = await fetch(gw.adminUrl + '/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false });
    expect((await inflight).status).toBe(200);
    await shutdown;
  });
});

describe('admin health endpoints', () => {
  it('/healthz and /readyz answer 200 on the admin listener while serving', async () => {
    const gw = await startTestGateway(`
routes:
  - match: { prefix: / }
    respond: { json: { ok: true } }
`);
    expect(new URL(gw.adminUrl).port).not.toBe(String(gw.port));
    const health = await fetch(gw.adminUrl + '/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    const ready = await fetch(gw.adminUrl + '/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, routes: 1 });
  });

  it('the proxy listener does not serve the admin endpoints', async () => {
    const gw = await startTestGateway('routes: []');
    expect((await send(gw.url, { path: '/readyz' })).status).toBe(404);
  });
});

describe('access log', () => {
  type Line = Record<string, unknown>;
  const requestLines = (gw: TestGateway) => gw.logs.filter((l) => l.msg === 'request');
  async function linesAfter(gw: TestGateway, n: number): Promise<Line[]> {
    // The line is written when the response closes, which can be just after the client has read it.
    await waitFor(() => requestLines(gw).length >= n, `${n} access-log lines`);
    return requestLines(gw);
  }

  it('writes one JSON line per request with method, route, status, timings, bytes and request id', async () => {
    const up = await startUpstream(says('hello'));
    const gw = await startTestGateway(configFor(up.url), { logs: true });
    const r = await send(gw.url, { path: '/things?x=1', headers: { 'x-request-id': 'log-test-1' } });
    const lines = await linesAfter(gw, 1);
    const line = lines.find((l) => l.requestId === 'log-test-1');
    expect(line).toMatchObject({ method: 'GET', route: 'app', status: 200, requestId: 'log-test-1', url: '/things?x=1' });
    expect(typeof line?.ms).toBe('number');
    expect(typeof line?.upstreamMs).toBe('number');
    expect(line?.bytes).toBeGreaterThanOrEqual(r.body.length);
  });

  it('logs errors too: a 404 has its status and request id and no route', async () => {
    const gw = await startTestGateway('routes: []', { logs: true });
    const r = await send(gw.url, { path: '/nothing-here' });
    const [line] = await linesAfter(gw, 1);
    expect(line).toMatchObject({ method: 'GET', status: 404, requestId: r.headers['x-request-id'] });
    expect(line.route).toBeUndefined();
  });

  it('one line per request, not more', async () => {
    const up = await startUpstream(says('x'));
    const gw = await startTestGateway(configFor(up.url), { logs: true });
    for (let i = 0; i < 5; i++) await send(gw.url, { path: `/n/${i}` });
    await linesAfter(gw, 5);
    await sleep(50);
    expect(requestLines(gw)).toHaveLength(5);
  });

  it('an api_key query parameter is logged as [redacted]', async () => {
    const up = await startUpstream(says('x'));
    const gw = await startTestGateway(configFor(up.url), { logs: true });
    await send(gw.url, { path: '/data?api_key=SECRET-KEY-123&page=2' });
    const [line] = await linesAfter(gw, 1);
    expect(line.url).toBe('/data?api_key=[redacted]&page=2');
    expect(JSON.stringify(gw.logs)).not.toContain('SECRET-KEY-123');
    // The upstream still gets the real value: redaction is for logs only.
    expect(up.requests[0].url).toBe('/data?api_key=SECRET-KEY-123&page=2');
  });

  it('a value the config took from an env var named *_TOKEN never appears in the log', async () => {
    const token = 'tok-9f8e7d6c5b4a';
    const up = await startUpstream(says('x'));
    const gw = await startTestGateway(
      `
admin: { token: "\${ADMIN_TOKEN}" }
${configFor('${UPSTREAM_URL}')}
`,
      { logs: true, env: { ADMIN_TOKEN: token, UPSTREAM_URL: up.url } },
    );
    // A client that echoes the token back (in the path, an unlisted query parameter, encoded) must not leak it.
    await send(gw.url, { path: `/p/${token}?q=${token}&r=${encodeURIComponent(token + '/x')}` });
    await send(gw.url, { path: `/missing/${token}`, method: 'GET', headers: { authorization: `Bearer ${token}` } });
    await linesAfter(gw, 2);
    expect(JSON.stringify(gw.logs)).not.toContain(token);
  });

  it('Authorization and Cookie values are never logged', async () => {
    const up = await startUpstream(says('x'));
    const gw = await startTestGateway(configFor(up.url), { logs: true });
    await send(gw.url, { path: '/', headers: { authorization: 'Bearer very-secret-bearer', cookie: 'session=very-secret-cookie' } });
    await linesAfter(gw, 1);
    const all = JSON.stringify(gw.logs);
    expect(all).not.toContain('very-secret-bearer');
    expect(all).not.toContain('very-secret-cookie');
  });
});
