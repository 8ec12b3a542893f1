/**
 * `tollgate load-data` on SQLite and Postgres: loading twice changes nothing, the three file formats, errors
 * with record and line numbers, all-or-nothing when the database refuses a record midway, and adding a field
 * migrates the table. Through the built CLI: what a user sees, and the exit code.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { openResourceDb } from '../../src/resources/db.js';
import { loadData } from '../../src/resources/load-data.js';
import { SqlResourceTable } from '../../src/resources/sql-table.js';
import type { ResourceConfig } from '../../src/resources/schema.js';
import { runCli } from '../helpers/cli.js';
import { postgresAvailable } from '../helpers/services.js';

const pgUrl = await postgresAvailable();
const RUN = randomBytes(4).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'tg-load-'));

const FIELDS = `
      id: { type: integer }
      name: { type: string, required: true, unique: true }
      size: { type: number, min: 0 }
      active: { type: boolean }
      made_at: { type: timestamp }
      data: { type: json }`;

function resourceConfig(extra = ''): ResourceConfig {
  return parseConfig(`resources:\n  items:\n    fields:${FIELDS}${extra}\n`, 'test.yaml').config.resources.items;
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const JSON_FILE = file(
  'items.json',
  `[
  {"id": 1, "name": "one", "size": 1.5, "active": true, "made_at": "2021-01-21T04:53:38Z", "data": {"a": [1, 2]}},
  {"id": 2, "name": "two", "size": 2},
  {"id": 3, "name": "three"}
]
`,
);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (pgUrl) {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`drop schema if exists tg_load_${RUN}_a cascade`);
    await c.query(`drop schema if exists tg_load_${RUN}_b cascade`);
    await c.end();
  }
});

const stores: [string, (n: string) => string | undefined][] = [
  ['sqlite', (n) => `sqlite:${join(dir, `load-${RUN}-${n}.db`)}`],
  ['postgres', (n) => (pgUrl ? `${pgUrl}?schema=tg_load_${RUN}_${n}` : undefined)],
];

async function rows(storeUrl: string, config: ResourceConfig = resourceConfig()) {
  const rdb = await openResourceDb(storeUrl);
  try {
    return (await new SqlResourceTable('items', config, rdb).list({ filters: {}, ordering: [], offset: 0, limit: 100 })).records;
  } finally {
    await rdb.close();
  }
}

describe.each(stores)('load-data on %s', (_dialect, store) => {
  const a = store('a');
  const b = store('b');

  it.skipIf(!a)('creates the table, and loading the same file twice changes nothing', async () => {
    const first = await loadData({ resource: 'items', config: resourceConfig(), storeUrl: a!, file: JSON_FILE });
    expect(first.table?.created).toBe(true);
    expect(first.counts).toEqual({ inserted: 3, updated: 0, unchanged: 0 });
    const before = await rows(a!);
    expect(before[0]).toEqual({ id: 1, name: 'one', size: 1.5, active: true, made_at: '2021-01-21T04:53:38Z', data: { a: [1, 2] } });
    const second = await loadData({ resource: 'items', config: resourceConfig(), storeUrl: a!, file: JSON_FILE });
    expect(second.counts).toEqual({ inserted: 0, updated: 0, unchanged: 3 });
    expect(await rows(a!)).toEqual(before);
  });

  it.skipIf(!a)('upserts by key: a changed record is updated, others unchanged (NDJSON)', async () => {
    const nd = file('items.ndjson', '{"id": 1, "name": "one", "size": 1.5, "active": true, "made_at": "2021-01-21T04:53:38Z", "data": {"a": [1, 2]}}\n\n{"id": 2, "name": "two", "size": 5}\n{"id": 4, "name": "four"}\n');
    const r = await loadData({ resource: 'items', config: resourceConfig(), storeUrl: a!, file: nd });
    expect(r.format).toBe('ndjson');
    expect(r.counts).toEqual({ inserted: 1, updated: 1, unchanged: 1 });
    expect((await rows(a!)).map((x) => [x.id, x.size])).toEqual([[1, 1.5], [2, 5], [3, null], [4, null]]);
  });

  it.skipIf(!a)('reads CSV cells as their field types, quoted cells included', async () => {
    const csv = file('items.csv', 'id,name,size,active,made_at,data\r\n10,"ten, with a comma",1e1,false,2021-01-21 04:53:38,"{""k"": ""v""}"\r\n11,"multi\nline",,1,,\r\n');
    const r = await loadData({ resource: 'items', config: resourceConfig(), storeUrl: a!, file: csv });
    expect(r.errors).toEqual([]);
    expect(r.counts).toEqual({ inserted: 2, updated: 0, unchanged: 0 });
    const got = (await rows(a!)).filter((x) => (x.id as number) >= 10);
    expect(got).toEqual([
      { id: 10, name: 'ten, with a comma', size: 10, active: false, made_at: '2021-01-21T04:53:38Z', data: { k: 'v' } },
      { id: 11, name: 'multi\nline', size: null, active: true, made_at: null, data: null },
    ]);
  });

  it.skipIf(!b)('invalid records: nothing is written, the errors name record, line and field', async () => {
    const bad = file('bad.json', '[\n  {"id": 1, "name": "ok"},\n  {"id": 2, "size": -1},\n  {"id": 1, "name": "again"},\n  {"id": "x", "name": "x", "colour": 1}\n]\n');
    const r = await loadData({ resource: 'items', config: resourceConfig(), storeUrl: b!, file: bad });
    expect(r.counts).toBeUndefined();
    expect(r.errors).toEqual([
      { record: 2, line: 3, field: 'size', message: 'value must be at least 0' },
      { record: 2, line: 3, field: 'name', message: 'required' },
      { record: 3, line: 4, field: 'id', message: 'duplicate key 1: record 1 has it too' },
      { record: 4, line: 5, field: 'id', message: 'expected an integer, got "x"' },
      { record: 4, line: 5, field: 'colour', message: expect.stringMatching(/^unknown field/) },
    ]);
    // Not even the table was created.
    const rdb = await openResourceDb(b!);
    await expect(new SqlResourceTable('items', resourceConfig(), rdb).get(1)).rejects.toThrow();
    await rdb.close();
  });

  it.skipIf(!b)('a record the database refuses midway rolls the whole load back', async () => {
    const ok = file('ok.json', '[{"id": 1, "name": "taken"}]');
    expect((await loadData({ resource: 'items', config: resourceConfig(), storeUrl: b!, file: ok })).counts?.inserted).toBe(1);
    // Records 1 and 2 are fine; record 3 takes the unique name of the stored record 1 under another key.
    const clash = file('clash.json', '[\n{"id": 2, "name": "a"},\n{"id": 3, "name": "b"},\n{"id": 4, "name": "taken"}\n]');
    const r = await loadData({ resource: 'items', config: resourceConfig(), storeUrl: b!, file: clash });
    expect(r.counts).toBeUndefined();
    expect(r.errors).toEqual([{ record: 3, line: 4, message: 'name: another record already has this value' }]);
    expect((await rows(b!)).map((x) => x.id)).toEqual([1]);
  });

  it.skipIf(!b)('a field added to the declaration becomes a new column', async () => {
    const more = resourceConfig('\n      colour: { type: string }');
    const f = file('colour.json', '[{"id": 1, "name": "taken", "colour": "red"}]');
    const r = await loadData({ resource: 'items', config: more, storeUrl: b!, file: f });
    expect(r.table).toEqual({ created: false, addedColumns: ['colour'] });
    expect(r.counts).toEqual({ inserted: 0, updated: 1, unchanged: 0 });
    expect((await rows(b!, more))[0]).toMatchObject({ id: 1, colour: 'red' });
  });
});

describe('tollgate load-data (CLI)', () => {
  const cfg = file('cli.yaml', `store: "sqlite:${join(dir, `cli-${RUN}.db`)}"\nresources:\n  items:\n    fields:${FIELDS}\n`);

  it('prints the counts, and the first errors with exit code 1', async () => {
    const ok = await runCli(['load-data', 'items', JSON_FILE, '-c', cfg]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^items: 3 records from .*items\.json into sqlite:.* \(table created\): 3 inserted, 0 updated, 0 unchanged\n$/);
    const again = await runCli(['load-data', 'items', JSON_FILE, '-c', cfg]);
    expect(again.stdout).toMatch(/0 inserted, 0 updated, 3 unchanged/);
    const bad = await runCli(['load-data', 'items', file('cli-bad.ndjson', '{"id": 7, "name": "x"}\n{"id": 8, "size": "big", "name": "y"}\n'), '-c', cfg]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('items: nothing loaded: 1 error in');
    expect(bad.stderr).toContain('record 2 (line 2): size: expected a number, got "big"');
    const unknown = await runCli(['load-data', 'nope', JSON_FILE, '-c', cfg]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown resource "nope"');
  });
});
