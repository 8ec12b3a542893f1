/**
 * Read replicas: resource reads go to `storeReplicas.urls`, writes (and the answer a write gives) to `store:`,
 * and for `leaderAfterWrite` after a write this instance reads the resource from the leader. The "replica"
 * here is a second Postgres schema standing in for a follower that lags forever: it holds other values, so
 * every answer shows which database it came from.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { loadData } from '../../src/resources/load-data.js';
import { closeAll, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { postgresAvailable } from '../helpers/services.js';

const pgUrl = await postgresAvailable();
const RUN = randomBytes(4).toString('hex');
const LEADER = `tg_lead_${RUN}`;
const REPLICA = `tg_repl_${RUN}`;
const dir = mkdtempSync(join(tmpdir(), 'tg-replicas-'));

const RESOURCES = `resources:
  notes:
    fields:
      id: { type: integer }
      text: { type: string, required: true }
`;

describe.skipIf(!pgUrl)('resource reads from read replicas', () => {
  let gw: TestGateway;
  const text = async (path: string) => ((await (await fetch(`${gw.url}${path}`)).json()) as { text: string }).text;

  beforeAll(async () => {
    const config = parseConfig(RESOURCES, 'r.yaml').config.resources.notes;
    for (const [schema, value] of [[LEADER, 'leader'], [REPLICA, 'replica']]) {
      const file = join(dir, `${schema}.json`);
      writeFileSync(file, JSON.stringify([{ id: 1, text: value }]));
      const r = await loadData({ resource: 'notes', config, storeUrl: `${pgUrl}?schema=${schema}`, file });
      expect(r.counts?.inserted).toBe(1);
    }
    gw = await startTestGateway(`store: "${pgUrl}?schema=${LEADER}"
storeReplicas: { urls: ["${pgUrl}?schema=${REPLICA}"], leaderAfterWrite: 400ms }
${RESOURCES}routes:
  - match: { path: /notes }
    resource: { name: notes }
  - match: { pattern: /notes/:id }
    resource: { name: notes }
`);
  });

  afterAll(async () => {
    await closeAll();
    rmSync(dir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`drop schema if exists ${LEADER} cascade`);
    await c.query(`drop schema if exists ${REPLICA} cascade`);
    await c.end();
  });

  it('reads go to the replica; a write goes to the leader and its answer comes from there', async () => {
    expect(await text('/notes/1')).toBe('replica');
    const list = (await (await fetch(`${gw.url}/notes`)).json()) as { results: { text: string }[] };
    expect(list.results[0].text).toBe('replica');
    const w = await fetch(`${gw.url}/notes/1`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"text": "written"}' });
    expect(await w.json()).toEqual({ id: 1, text: 'written' });
  });

  it('right after a write this instance reads the leader, then the replica again once the window passed', async () => {
    await fetch(`${gw.url}/notes/1`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"text": "mine"}' });
    expect(await text('/notes/1')).toBe('mine');
    await new Promise((r) => setTimeout(r, 600));
    // The stand-in replica never catches up: seeing its value proves the read went there.
    expect(await text('/notes/1')).toBe('replica');
  });
});
