/**
 * Resource declarations and resource routes are checked when the config compiles (`tollgate check`, start,
 * reload): each problem with file, line and key path. And a table whose column no longer fits its field
 * stops the start instead of serving wrong values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/compile.js';
import { ConfigError, formatProblem, parseConfig } from '../../src/config/load.js';
import { closeAll, startTestGateway } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-res-config-'));
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

async function problems(yaml: string): Promise<string[]> {
  try {
    const loaded = parseConfig(yaml, 'r.yaml');
    await compileConfig(loaded, { log: pino({ level: 'silent' }) });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map(formatProblem);
  }
}

const RESOURCES = `resources:
  things:
    fields:
      id: { type: integer }
      name: { type: string }
      data: { type: json }
`;

describe('resource config', () => {
  it('refuses a key that is not a field, or not integer or string, and a page size above the maximum', async () => {
    const p = await problems(`resources:
  a:
    key: nope
    fields: { id: { type: integer } }
  b:
    fields: { id: { type: number } }
  c:
    pageSize: 200
    fields: { id: { type: integer } }
  d:
    fields: { id: { type: date } }
`);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^r\.yaml:3: resources\.a\.key: key: expected the name of one of the fields/),
        expect.stringMatching(/^r\.yaml:6: resources\.b\.key: key: the key field must be of type integer or string/),
        expect.stringMatching(/^r\.yaml:8: resources\.c\.pageSize: pageSize: must not exceed maxPageSize/),
        expect.stringMatching(/^r\.yaml:\d+: resources\.d\.fields\.id\.type: /),
      ]),
    );
  });

  it('checks resource routes against the resource and the pattern', async () => {
    const p = await problems(`${RESOURCES}routes:
  - match: { path: /x }
    resource: { name: nothing }
  - match: { path: /things }
    resource: { name: things, serve: item }
  - match: { pattern: /things/:id, methods: [POST] }
    resource: { name: things }
  - match: { pattern: /things/:id/name/x }
    resource: { name: things, field: name.x }
  - match: { pattern: /things/:id/z }
    resource: { name: things, field: zz }
  - match: { pattern: /things/create/:colour }
    resource: { name: things, serve: create }
`);
    expect(p).toEqual([
      expect.stringMatching(/^r\.yaml:9: routes\[0\]\.resource\.name: unknown resource "nothing": expected one of things/),
      expect.stringMatching(/^r\.yaml:11: routes\[1\]\.resource\.param: serve item needs the key in the path: expected a match\.pattern with :id/),
      expect.stringMatching(/^r\.yaml:12: routes\[2\]\.match\.methods: POST is not served by this item route/),
      expect.stringMatching(/^r\.yaml:15: routes\[3\]\.resource\.field: name is of type string: only json fields have nested paths/),
      expect.stringMatching(/^r\.yaml:17: routes\[4\]\.resource\.field: unknown field "zz"/),
      expect.stringMatching(/^r\.yaml:18: routes\[5\]\.match\.pattern: :colour is not a field of resource things/),
    ]);
  });

  it('a resource name is a SQL identifier (a dotted name would address another schema)', async () => {
    expect(await problems('resources:\n  my.things:\n    fields: { id: { type: integer } }\n')).toEqual([
      expect.stringMatching(/^r\.yaml:3: resources\.my\.things: /),
    ]);
  });

  it("a resource may not use the consumer store's tables", async () => {
    const store = `sqlite:${join(dir, 'reserved.db')}`;
    await expect(
      startTestGateway(`store: "${store}"\nresources:\n  plans:\n    fields: { id: { type: integer } }\nroutes:\n  - match: { path: /plans }\n    resource: { name: plans }\n`),
    ).rejects.toThrow(/resource plans: table plans belongs to the gateway's consumer store; set resources\.plans\.table to another name/);
  });

  it('a route has exactly one of upstream, respond or resource', async () => {
    expect(await problems(`${RESOURCES}routes:\n  - match: { path: /y }\n    respond: { status: 204 }\n    resource: { name: things }\n`)).toEqual([
      expect.stringMatching(/^r\.yaml:\d+: routes\[0\]: expected exactly one of upstream, respond or resource/),
    ]);
  });

  it('a column whose type no longer matches its field stops the start with the field named', async () => {
    const store = `sqlite:${join(dir, 'typed.db')}`;
    const route = 'routes:\n  - match: { path: /things }\n    resource: { name: things }\n';
    const gw = await startTestGateway(`store: "${store}"\n${RESOURCES}${route}`);
    await gw.close();
    const changed = RESOURCES.replace('name: { type: string }', 'name: { type: integer }');
    await expect(startTestGateway(`store: "${store}"\n${changed}${route}`)).rejects.toThrow(/field name is declared integer but column things\.name is text/);
  });

  it('a reload that adds a field migrates the table before the new config serves', async () => {
    const store = `sqlite:${join(dir, 'reload.db')}`;
    const file = join(dir, 'reload.yaml');
    const route = 'routes:\n  - match: { path: /things }\n    resource: { name: things }\n';
    writeFileSync(file, `store: "${store}"\n${RESOURCES}${route}`);
    const gw = await startTestGateway('', { configFile: file });
    const post = (body: unknown) => fetch(`${gw.url}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ name: 'a', colour: 'red' })).status).toBe(400);
    writeFileSync(file, `store: "${store}"\n${RESOURCES}      colour: { type: string }\n${route}`);
    await gw.gateway.reload();
    const r = await post({ name: 'b', colour: 'red' });
    expect(r.status).toBe(201);
    expect(await r.json()).toMatchObject({ name: 'b', colour: 'red' });
    await gw.close();
  });

  it('warns when a route writes to a resource whose reads another route caches, without a cache policy itself', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const yaml = (writePolicies: string) => `${RESOURCES}routes:
  - match: { pattern: /things/:id, methods: [GET] }
    resource: { name: things }
    policies: [{ cache: { ttl: 1m } }]
  - match: { pattern: /things/:id, methods: [PATCH] }
    resource: { name: things }
    policies: ${writePolicies}
`;
    await (await compileConfig(parseConfig(yaml('[]'), 'r.yaml'), { log })).retire(undefined);
    expect(lines.join('')).toContain('route-1 writes to resource things without a cache policy');
    lines.length = 0;
    await (await compileConfig(parseConfig(yaml('[{ cache: { ttl: 1m } }]'), 'r.yaml'), { log })).retire(undefined);
    expect(lines).toEqual([]);
  });
});
