/**
 * Write-through across instances: two gateways on one Postgres schema with their resource GETs cached in one
 * Redis. A write on either instance invalidates the shared entries before it answers, so a read right after
 * it, on the other instance, never sees the old record or list.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { postgresAvailable, redisAvailable } from '../helpers/services.js';

const redisUrl = await redisAvailable();
const pgUrl = await postgresAvailable();
const RUN = randomBytes(4).toString('hex');
const SCHEMA = `tg_res2_${RUN}`;
// Paths unique to this run: the Redis cache has no per-test namespace.
const BASE = `/r${RUN}`;
const PAIRS = 100;

describe.skipIf(!redisUrl || !pgUrl)('resource writes on two instances sharing Redis and Postgres', () => {
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    const yaml = `
store: "${pgUrl}?schema=${SCHEMA}"
redis: "${redisUrl}"
resources:
  counters:
    fields:
      id: { type: integer }
      value: { type: integer, required: true }
policies:
  shared-cache: { cache: { store: redis, ttl: 10m } }
routes:
  - match: { path: ${BASE}/counters }
    resource: { name: counters }
    policies: [shared-cache]
  - match: { pattern: ${BASE}/counters/:id }
    resource: { name: counters }
    policies: [shared-cache]
`;
    a = await startTestGateway(yaml);
    b = await startTestGateway(yaml);
  });

  afterAll(async () => {
    await closeAll();
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`drop schema if exists ${SCHEMA} cascade`);
    await c.end();
  });

  it(`${PAIRS} write-then-read pairs across the two instances: no stale read`, async () => {
    const created = await fetch(`${a.url}${BASE}/counters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"value": 0}' });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };
    let stale = 0;
    let hits = 0;
    for (let i = 1; i <= PAIRS; i++) {
      const [writer, reader] = i % 2 ? [a, b] : [b, a];
      // The reader has the old value cached (a hit on the second read).
      await (await fetch(`${reader.url}${BASE}/counters/${id}`)).text();
      const warm = await fetch(`${reader.url}${BASE}/counters/${id}`);
      if (warm.headers.get('x-cache') === 'HIT') hits++;
      await warm.text();
      await (await fetch(`${reader.url}${BASE}/counters`)).text();
      const w = await fetch(`${writer.url}${BASE}/counters/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: i }) });
      expect(w.status).toBe(200);
      await w.text();
      const one = (await (await fetch(`${reader.url}${BASE}/counters/${id}`)).json()) as { value: number };
      const list = (await (await fetch(`${reader.url}${BASE}/counters`)).json()) as { results: { value: number }[] };
      if (one.value !== i || list.results[0].value !== i) stale++;
    }
    expect(hits).toBe(PAIRS);
    expect(stale).toBe(0);
  });
});
