/**
 * One application, used through the proxy (auth + rate-limit + usage on a route) and through the 3scale API
 * (authorize, authrep, report): one limit and one usage. Run with the in-process limiter and with Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { awayFromMinuteBoundary } from '../helpers/clock.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { SendResult, TestGateway } from '../helpers/gateway.js';
import { redisAvailable } from '../helpers/services.js';
import { startUpstream } from '../helpers/upstream.js';
import { openStore } from '../../src/store/index.js';

const redisUrl = await redisAvailable();
const dir = mkdtempSync(join(tmpdir(), 'tollgate-3scale-counters-'));
afterEach(closeAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false });
const TOKEN = 'service-token-for-counters';
const KEY = 'app-key-for-counters';

async function boot(redis: string): Promise<{ gw: TestGateway; db: string }> {
  const up = await startUpstream();
  const db = join(dir, `${randomUUID()}.db`);
  const yaml = `
store: "sqlite:${db}"
redis: "${redis}"
limits: { namespace: "tg-test-3scale-${randomUUID()}:", usageFlush: 100ms }
threescale: { enabled: true, prefix: /3scale }
services:
  svc1: { token: "${TOKEN}" }
plans:
  basic: { name: Basic, service: svc1, limits: { hits: [{ per: minute, max: 5 }, { per: day, max: 100 }] } }
applications:
  - { id: app1, plan: basic, service: svc1, appKeys: ["${KEY}"] }
upstreams:
  app: { url: "${up.url}" }
routes:
  - match: { prefix: /api/ }
    upstream: app
    policies: [{ auth: { appId: {}, service: svc1 } }, rate-limit, usage]
`;
  return { gw: await startTestGateway(yaml), db };
}

const creds = `service_token=${TOKEN}&service_id=svc1&app_id=app1&app_key=${KEY}`;
const proxied = (gw: TestGateway) => send(gw.url, { path: `/api/thing?app_id=app1&app_key=${KEY}` });
const api = (gw: TestGateway, call: string, usage = '&usage%5Bhits%5D=1') => send(gw.url, { path: `/3scale/transactions/${call}.xml?${creds}${usage}` });

function minuteOf(r: SendResult): { current: string; max: string } {
  const reports = (((xml.parse(r.body.toString()) as Record<string, Record<string, unknown>>).status.usage_reports as Record<string, unknown>).usage_report as Record<string, string>[]);
  const m = reports.find((u) => u['@period'] === 'minute')!;
  return { current: m.current_value, max: m.max_value };
}

for (const [name, redis] of [['the in-process limiter', ''], ['Redis', redisUrl ?? '']] as const) {
  describe.skipIf(name === 'Redis' && !redisUrl)(`one set of counters (${name})`, () => {
    it('an application used through the proxy and through authrep sees one usage and one limit', async () => {
      await awayFromMinuteBoundary(10_000);
      const { gw, db } = await boot(redis);
      expect((await proxied(gw)).status).toBe(200);
      expect((await proxied(gw)).status).toBe(200);
      // authorize sees the proxy's two hits, and does not count itself.
      const seen = await api(gw, 'authorize');
      expect(seen.status).toBe(200);
      expect(minuteOf(seen)).toEqual({ current: '2', max: '5' });
      expect(minuteOf(await api(gw, 'authorize', ''))).toEqual({ current: '2', max: '5' });
      // Two authreps and a report of one hit fill the minute (2 + 2 + 1 = 5).
      expect(minuteOf(await api(gw, 'authrep'))).toEqual({ current: '3', max: '5' });
      expect(minuteOf(await api(gw, 'authrep'))).toEqual({ current: '4', max: '5' });
      const rep = await send(gw.url, {
        method: 'POST',
        path: '/3scale/transactions.xml',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `service_token=${TOKEN}&service_id=svc1&transactions[0][app_id]=app1&transactions[0][usage][hits]=1`,
      });
      expect(rep.status).toBe(202);
      // The proxy now refuses the application, and so does authrep; neither refusal counts.
      expect((await proxied(gw)).status).toBe(429);
      const refused = await api(gw, 'authrep');
      expect(refused.status).toBe(409);
      expect(minuteOf(refused)).toEqual({ current: '5', max: '5' });
      expect((await api(gw, 'authorize', '')).status).toBe(200);
      expect((await api(gw, 'authorize')).status).toBe(409);
      await gw.close();

      // One usage: 2 proxied + 2 authrep + 1 reported hits, recorded for the application in the store.
      const store = await openStore(`sqlite:${db}`);
      try {
        const rows = await store.getUsage('app1', { period: 'day', metric: 'hits' });
        expect(rows.reduce((n, r) => n + r.value, 0)).toBe(5);
      } finally {
        await store.close();
      }
    });
  });
}
