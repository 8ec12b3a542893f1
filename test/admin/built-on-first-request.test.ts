/**
 * The admin listener is bound at start but its app (fastify, the admin API, docs, dashboard) is built on the
 * first request: an unadministered gateway does not carry it. What a user must not notice: the very first
 * requests, arriving together and one with a body, are answered as usual; the dashboard's counts start at
 * the gateway's start, not at the first admin visit; shutdown before any admin request is clean.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startAdminGateway } from '../helpers/admin.js';
import type { AdminGateway } from '../helpers/admin.js';
import { send } from '../helpers/gateway.js';

let a: AdminGateway | undefined;
afterEach(async () => {
  await a?.close();
  a = undefined;
});

describe('admin listener built on its first request', () => {
  it('answers the first requests, arriving together (one with a JSON body), as a built app would', async () => {
    a = await startAdminGateway();
    expect(a.gw.gateway.admin?.built).toBe(false);
    const [health, created, refused] = await Promise.all([
      send(a.gw.adminUrl, { path: '/healthz' }),
      a.api('POST', '/api/applications', { id: 'first-caller', planId: 'free' }),
      send(a.gw.adminUrl, { path: '/api/applications' }),
    ]);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body.toString())).toEqual({ ok: true });
    expect(created.status).toBe(201);
    expect(refused.status).toBe(401);
    expect(a.gw.gateway.admin?.built).toBe(true);
    const list = await a.api('GET', '/api/applications');
    expect(list.status).toBe(200);
    expect(list.body.toString()).toContain('"first-caller"');
  });

  it('counts traffic from the start: requests served before the first admin request are on the dashboard', async () => {
    a = await startAdminGateway();
    for (let i = 0; i < 3; i++) expect((await send(a.gw.url, { path: '/cached/x' })).status).toBe(200);
    // The dashboard samples once a second.
    await new Promise((r) => setTimeout(r, 1300));
    const stats = JSON.parse((await send(a.gw.adminUrl, { path: '/api/stats', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.toString()) as { hour: { requests: number } };
    expect(stats.hour.requests).toBe(3);
  });

  it('shuts down cleanly when no admin request ever came', async () => {
    a = await startAdminGateway();
    const url = a.gw.adminUrl;
    await a.close();
    a = undefined;
    await expect(send(url, { path: '/healthz' })).rejects.toThrow();
  });
});
