/**
 * examples/netmetr.yaml, loaded as shipped, in front of a fake backend that behaves like the real one.
 * Every expectation here is a line of the netmetr-proxy README.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { track } from './helpers/upstream.js';
import { startFakeNetmetr } from './fixtures/fake-netmetr.js';
import type { FakeNetmetr } from './fixtures/fake-netmetr.js';

let backend: FakeNetmetr;
let gw: TestGateway;

async function start(token?: string) {
  gw = await startTestGateway('', { configFile: 'examples/netmetr.yaml', env: { NETMETR_BACKEND: backend.url, NETMETR_TOKEN: token ?? backend.token }, logs: true });
}

beforeEach(async () => {
  backend = track(await startFakeNetmetr());
});
afterEach(closeAll);

describe('examples/netmetr.yaml', () => {
  it('GET /opendata becomes a POST with year, month and token, and the zip streams back as a named download', async () => {
    await start();
    const r = await send(gw.url, { path: '/opendata?year=2018&month=3' });
    expect(r.status).toBe(200);
    expect(r.headers['content-disposition']).toBe('attachment; filename=NetMetr-opendata-dirty-2018-03.zip');
    expect(r.headers['content-type']).toBe('application/zip');
    expect(r.body.equals(backend.zipFor(2018, 3))).toBe(true);
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(backend.requests).toEqual([{ method: 'POST', path: '/opendata', contentType: 'application/x-www-form-urlencoded', form: { year: '2018', month: '3', token: backend.token } }]);
  });

  it('answers `curl -I` with the download headers', async () => {
    await start();
    const r = await send(gw.url, { method: 'HEAD', path: '/opendata?year=2018&month=3' });
    expect(r.status).toBe(200);
    expect(r.headers['content-disposition']).toBe('attachment; filename=NetMetr-opendata-dirty-2018-03.zip');
    expect(r.headers['content-length']).toBe(String(backend.zipFor(2018, 3).length));
  });

  it('GET /approve passes the JSON through, first approval and repeat', async () => {
    await start();
    const first = await send(gw.url, { path: '/approve?year=2018&month=3' });
    expect(first.status).toBe(200);
    expect(first.json()).toEqual({ success: true, message: 'Results for 2018-03 were successfully approved.' });
    const again = await send(gw.url, { path: '/approve?year=2018&month=3' });
    expect(again.json()).toEqual({ success: true, message: 'Results for 2018-03 were already approved before.' });
    expect(backend.requests.map((q) => q.form)).toEqual([
      { year: '2018', month: '3', token: backend.token },
      { year: '2018', month: '3', token: backend.token },
    ]);
  });

  it('refuses bad and future dates with 400 "Invalid date." without calling the backend', async () => {
    await start();
    const now = new Date();
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    const cases = ['/opendata?year=2018&month=0', '/opendata?year=0&month=march', `/opendata?year=${next.getUTCFullYear()}&month=${next.getUTCMonth() + 1}`, '/approve?year=2018&month=13'];
    for (const path of cases) {
      const r = await send(gw.url, { path });
      expect(r.status, path).toBe(400);
      expect(r.json(), path).toEqual({ error: 'Invalid date.' });
    }
    expect(backend.requests).toHaveLength(0);
  });

  it('refuses a missing parameter with 400 "Missing or invalid parameter (year, month)."', async () => {
    await start();
    const r = await send(gw.url, { path: '/approve?year=2018' });
    expect(r.status).toBe(400);
    expect(r.json()).toEqual({ error: 'Missing or invalid parameter (year, month).' });
    expect(backend.requests).toHaveLength(0);
  });

  it('maps the backend\'s 200 "ERROR: invalid key!" to 403 {"error": "invalid key!"}, without leaking the token', async () => {
    await start('wrong-token-value');
    for (const path of ['/opendata?year=2018&month=1', '/approve?year=2018&month=1']) {
      const r = await send(gw.url, { path });
      expect(r.status, path).toBe(403);
      expect(r.json(), path).toEqual({ error: 'invalid key!' });
      expect(r.headers['content-disposition']).toBeUndefined();
    }
    expect(JSON.stringify(gw.logs)).not.toContain('wrong-token-value');
  });

  it('answers 404 for every other path', async () => {
    await start();
    for (const path of ['/', '/foo', '/opendata/x']) expect((await send(gw.url, { path })).status, path).toBe(404);
    expect(backend.requests).toHaveLength(0);
  });
});
