/**
 * examples/factories.yaml as shipped (seed 003's API), with its data loaded by the CLI as the README says, on
 * a fresh SQLite file: anonymous reads, seed 003's paths, POST-only create/update aliases, and writes that
 * need a key with scope write, as FACTORIES_WRITE_KEY's (refused when it is not set at all).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, startTestGateway } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { runCli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-factories-'));
const STORE = `sqlite:${join(dir, 'factories.db')}`;
const KEY = 'factories-test-key';
let gw: TestGateway;

async function start(env: NodeJS.ProcessEnv) {
  gw = await startTestGateway('', { configFile: 'examples/factories.yaml', env: { FACTORIES_STORE: STORE, ...env } });
}

beforeAll(async () => {
  for (const r of ['factories', 'sprockets']) {
    const out = await runCli(['load-data', r, `examples/data/${r}.json`, '-c', 'examples/factories.yaml'], { env: { ...process.env, FACTORIES_STORE: STORE } });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
  }
});
afterEach(closeAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/factories.yaml', () => {
  it('serves seed 003 read paths anonymously', async () => {
    await start({});
    const list = (await (await fetch(`${gw.url}/api/factories`)).json()) as { count: number; results: { id: number }[] };
    expect(list.count).toBe(3);
    const one = (await (await fetch(`${gw.url}/api/factory/1`)).json()) as { id: number; chart_data: Record<string, number[]> };
    const data = JSON.parse(readFileSync('examples/data/factories.json', 'utf8')) as { id: number; chart_data: unknown }[];
    expect(one).toEqual(data[0]);
    expect(one.chart_data.sprocket_production_actual.slice(0, 3)).toEqual([32, 28, 31]);
    expect(Object.keys(one.chart_data)).toEqual(['sprocket_production_actual', 'sprocket_production_goal', 'time']);
    expect(await (await fetch(`${gw.url}/api/factory/2/chart-data`)).json()).toEqual(data[1].chart_data);
    const sprockets = (await (await fetch(`${gw.url}/api/sprockets`)).json()) as { results: { id: number }[] };
    expect(sprockets.results.map((s) => s.id)).toEqual([1, 2, 3]);
  });

  it('with no variable set, no write key exists: writes get 401', async () => {
    await start({});
    for (const [method, path] of [['POST', '/api/sprocket/create/5/6/4/7/'], ['POST', '/api/sprocket/3/update/5/6/4/7/'], ['PATCH', '/api/sprocket/1'], ['POST', '/api/sprockets']]) {
      const r = await fetch(`${gw.url}${path}`, { method, headers: { 'x-api-key': 'guess', 'content-type': 'application/json' }, body: '{}' });
      expect(r.status, `${method} ${path}`).toBe(401);
    }
    expect((await fetch(`${gw.url}/api/factory/1`, { method: 'DELETE' })).status).toBe(405);
  });

  it('creates and updates through seed 003 paths with the key; GET on them is 405', async () => {
    await start({ FACTORIES_WRITE_KEY: KEY });
    const get = await fetch(`${gw.url}/api/sprocket/create/5/6/4/7/`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toContain('POST');
    const created = await fetch(`${gw.url}/api/sprocket/create/5/6/4/7/`, { method: 'POST', headers: { 'x-api-key': KEY } });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: number };
    expect(body).toEqual({ id: 4, teeth: 5, pitch_diameter: 6, outside_diameter: 4, pitch: 7 });
    expect(created.headers.get('location')).toBe(`${gw.url}/api/sprocket/4`);
    // Read (and cache) sprocket 3, update it through the alias, read again: the new values.
    await (await fetch(`${gw.url}/api/sprocket/3`)).text();
    const updated = await fetch(`${gw.url}/api/sprocket/3/update/5/6/4/7/`, { method: 'POST', headers: { 'x-api-key': KEY } });
    expect(updated.status).toBe(200);
    expect(await (await fetch(`${gw.url}/api/sprocket/3`)).json()).toEqual({ id: 3, teeth: 5, pitch_diameter: 6, outside_diameter: 4, pitch: 7 });
    expect((await fetch(`${gw.url}/api/sprocket/3/update/5/6/4/7/`)).status).toBe(405);
    const del = await fetch(`${gw.url}/api/sprocket/4`, { method: 'DELETE', headers: { 'x-api-key': KEY } });
    expect(del.status).toBe(204);
    expect((await fetch(`${gw.url}/api/sprocket/4`)).status).toBe(404);
  });

  it('answers XML for Accept: application/xml and stores an XML or form body as JSON (seed 001)', async () => {
    await start({ FACTORIES_WRITE_KEY: KEY });
    const json = await fetch(`${gw.url}/api/sprocket/1`);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const xml = await fetch(`${gw.url}/api/sprocket/1`, { headers: { accept: 'application/xml' } });
    expect(xml.status).toBe(200);
    expect(xml.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(xml.headers.get('vary')).toMatch(/Accept/);
    const text = await xml.text();
    expect(text).toMatch(/^<\?xml/);
    expect(text).toContain('<id>1</id>');
    // The JSON client still gets JSON from the (now warm) cache.
    expect((await fetch(`${gw.url}/api/sprocket/1`)).headers.get('content-type')).toMatch(/^application\/json/);

    const fromXml = await fetch(`${gw.url}/api/sprockets`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/xml' },
      body: '<sprocket><teeth>9</teeth><pitch_diameter>8</pitch_diameter><outside_diameter>7</outside_diameter><pitch>6</pitch></sprocket>',
    });
    const fromForm = await fetch(`${gw.url}/api/sprockets`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'teeth=3&pitch_diameter=4&outside_diameter=5&pitch=6',
    });
    for (const [r, teeth] of [[fromXml, 9], [fromForm, 3]] as const) {
      const text = await r.text();
      expect(r.status, text).toBe(201);
      const made = JSON.parse(text) as { id: number; teeth: number };
      expect(made.teeth).toBe(teeth);
      expect(((await (await fetch(`${gw.url}/api/sprocket/${made.id}`)).json()) as { teeth: number }).teeth).toBe(teeth);
    }
  });

  it('writes need scope write: a read-only key made by the CLI gets 403 naming it, and still reads', async () => {
    await start({ FACTORIES_WRITE_KEY: KEY });
    const out = await runCli(['keys', 'create', 'factory-writer', '--scopes', 'read', '--json', '-c', 'examples/factories.yaml'], { env: { ...process.env, FACTORIES_STORE: STORE } });
    expect(out.stderr).toBe('');
    const readOnly = (JSON.parse(out.stdout) as { secret: string }).secret;
    for (const [method, path] of [['POST', '/api/sprocket/create/5/6/4/7/'], ['PATCH', '/api/sprocket/1'], ['DELETE', '/api/sprocket/1'], ['POST', '/api/sprockets']]) {
      const r = await fetch(`${gw.url}${path}`, { method, headers: { 'x-api-key': readOnly, 'content-type': 'application/json' }, body: method === 'DELETE' ? undefined : '{}' });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(await r.json()).toMatchObject({ code: 'TG_FORBIDDEN', error: 'This key lacks the scope write.' });
    }
    expect((await fetch(`${gw.url}/api/sprocket/1`, { headers: { 'x-api-key': readOnly } })).status).toBe(200);
  });
});
