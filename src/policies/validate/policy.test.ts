import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, gatewayWithPolicies, send } from '../../../test/helpers/gateway.js';
import { echo } from '../../../test/helpers/upstream.js';
import { checkNotInFuture } from './rules.js';

afterEach(closeAll);

const DATE_RULES = `
      - validate:
          query:
            required: [year, month]
            properties:
              year: { type: integer, minimum: 2000 }
              month: { type: integer, minimum: 1, maximum: 12 }
          rules: [{ notInFuture: { year: year, month: month } }]
          onError: { json: { error: "Invalid date." } }
          onMissing: { status: 422, json: { error: "Missing parameter." } }`;

function gatewayWith(policies: string) {
  return gatewayWithPolicies(echo, policies);
}

describe('validate: query parameters', () => {
  it('lets valid requests through unchanged, query bytes included', async () => {
    const { up, gw } = await gatewayWith(DATE_RULES);
    const r = await send(gw.url, { path: '/x?year=2018&month=03' });
    expect(r.status).toBe(200);
    expect(up.requests[0].url).toBe('/x?year=2018&month=03');
  });

  it('answers the configured error for bad types, ranges and future dates, without calling the upstream', async () => {
    const { up, gw } = await gatewayWith(DATE_RULES);
    const now = new Date();
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    for (const q of ['year=2018&month=0', 'year=0&month=march', 'year=2018&month=13', `year=${next.getUTCFullYear()}&month=${next.getUTCMonth() + 1}`]) {
      const r = await send(gw.url, { path: `/x?${q}` });
      expect(r.status, q).toBe(400);
      expect(r.json(), q).toEqual({ error: 'Invalid date.' });
      expect(r.headers['x-request-id']).toBeTruthy();
    }
    expect(up.requests).toHaveLength(0);
  });

  it('answers onMissing when a required parameter is absent', async () => {
    const { up, gw } = await gatewayWith(DATE_RULES);
    const r = await send(gw.url, { path: '/x?year=2018' });
    expect(r.status).toBe(422);
    expect(r.json()).toEqual({ error: 'Missing parameter.' });
    expect(up.requests).toHaveLength(0);
  });

  it('without onError, answers the gateway error shape naming the parameter', async () => {
    const { gw } = await gatewayWith(`
      - validate: { query: { properties: { limit: { type: integer, maximum: 100 } } } }`);
    const r = await send(gw.url, { path: '/x?limit=500' });
    expect(r.status).toBe(400);
    const body = r.json<{ error: string; code: string }>();
    expect(body.code).toBe('TG_VALIDATION_FAILED');
    expect(body.error).toContain('"limit"');
    expect((await send(gw.url, { path: '/x?limit=5' })).status).toBe(200);
  });

  it('rejects a schema that is not valid JSON Schema when the config loads', async () => {
    const err = await gatewayWith(`
      - validate: { query: { properties: { a: { type: integr } } } }`).catch((e: Error) => e);
    expect(String(err)).toContain('not valid JSON Schema');
  });
});

describe('validate: bodies', () => {
  const BODY = `
      - validate:
          body:
            required: [name, count]
            properties: { name: { type: string, minLength: 1 }, count: { type: integer } }`;

  it('checks JSON bodies with their own types and forwards the same bytes', async () => {
    const { up, gw } = await gatewayWith(BODY);
    const ok = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/json' }, body: '{"name":"a","count":2}' });
    expect(ok.status).toBe(200);
    expect(ok.json<{ bodyLength: number }>().bodyLength).toBe(22);
    const bad = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/json' }, body: '{"name":"a","count":"2"}' });
    expect(bad.status).toBe(400);
    const broken = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/json' }, body: '{"name":' });
    expect(broken.status).toBe(400);
    expect(up.requests).toHaveLength(1);
  });

  it('checks urlencoded bodies like a query (coerced)', async () => {
    const { up, gw } = await gatewayWith(BODY);
    const ok = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=a&count=2' });
    expect(ok.status).toBe(200);
    expect(up.requests[0].body.toString()).toBe('name=a&count=2');
    const missing = await send(gw.url, { method: 'POST', path: '/x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=a' });
    expect(missing.status).toBe(400);
    expect(missing.json<{ error: string }>().error).toContain('count');
  });
});

describe('notInFuture', () => {
  const now = new Date(Date.UTC(2024, 4, 15)); // 15 May 2024
  const rule = { year: 'y', month: 'm', in: 'query' as const };
  it('allows the past and the current month, refuses later months and impossible dates', () => {
    expect(checkNotInFuture(rule, { y: 2024, m: 5 }, now)).toBeUndefined();
    expect(checkNotInFuture(rule, { y: 2023, m: 12 }, now)).toBeUndefined();
    expect(checkNotInFuture(rule, { y: 2024, m: 6 }, now)).toContain('future');
    expect(checkNotInFuture(rule, { y: 2025, m: 1 }, now)).toContain('future');
    expect(checkNotInFuture(rule, { y: 2024, m: 13 }, now)).toContain('not a valid date');
    expect(checkNotInFuture({ ...rule, day: 'd' }, { y: 2023, m: 4, d: 31 }, now)).toContain('not a valid date');
    expect(checkNotInFuture({ ...rule, day: 'd' }, { y: 2024, m: 5, d: 16 }, now)).toContain('future');
  });
});
