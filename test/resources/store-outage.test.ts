/**
 * A resource route whose Postgres stops answering (black-holed by a TCP proxy the test controls) or refuses
 * connections: requests get 503 TG_STORE_UNAVAILABLE within a bound instead of hanging (or a 500), and the
 * route serves again by itself when the database is back.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { postgresAvailable } from '../helpers/services.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import type { TcpProxy } from '../helpers/tcp-proxy.js';

const pgUrl = await postgresAvailable();
const SCHEMA = `tg_res_outage_${randomBytes(4).toString('hex')}`;
const BOUND_MS = 300;

describe.skipIf(!pgUrl)('resource routes when Postgres goes away', () => {
  let proxy: TcpProxy;
  let gw: TestGateway;

  beforeAll(async () => {
    const target = new URL(pgUrl!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(`${pgUrl}?schema=${SCHEMA}`);
    proxied.host = `127.0.0.1:${proxy.port}`;
    gw = await startTestGateway(`
store: "${proxied.toString()}"
limits: { storeTimeout: ${BOUND_MS}ms }
resources:
  things: { key: id, fields: { id: { type: integer }, name: { type: string, required: true } } }
routes:
  - match: { path: /things }
    resource: { name: things }
  - match: { pattern: /things/:id }
    resource: { name: things }
`);
    const made = await send(gw.url, { method: 'POST', path: '/things', headers: { 'content-type': 'application/json' }, body: '{"name":"one"}' });
    expect(made.status).toBe(201);
  }, 30_000);

  afterAll(async () => {
    await closeAll();
    await proxy?.close();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop schema if exists "${SCHEMA}" cascade`);
    await client.end();
  });

  const timed = async (path: string) => {
    const t0 = Date.now();
    const r = await send(gw.url, { path });
    return { status: r.status, ms: Date.now() - t0, body: r.body.toString() };
  };

  it('answers 503 within the bound while the database is black-holed or refusing, and recovers by itself', async () => {
    expect((await timed('/things/1')).status).toBe(200);
    for (const cut of ['blackhole', 'down'] as const) {
      await proxy[cut]();
      const r = await timed('/things/1');
      expect(r.status, r.body).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({ code: 'TG_STORE_UNAVAILABLE' });
      // The query bound is 10 x storeTimeout; a generous margin on top for a busy machine.
      expect(r.ms).toBeLessThan(10 * BOUND_MS + 3_000);
      await proxy.up();
      let back = await timed('/things/1');
      for (let i = 0; i < 20 && back.status !== 200; i++) {
        await new Promise((res) => setTimeout(res, 250));
        back = await timed('/things/1');
      }
      expect(back.status).toBe(200);
    }
  }, 60_000);
});
