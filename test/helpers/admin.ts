/**
 * A real gateway with a real SQLite store, an upstream and an admin token, plus `api()`: one admin API call
 * with the token (or other headers) and a JSON body.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutgoingHttpHeaders } from 'node:http';
import { send, startTestGateway } from './gateway.js';
import type { SendResult, StartOptions, TestGateway } from './gateway.js';
import { startUpstream } from './upstream.js';
import type { TestUpstream } from './upstream.js';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const DEMO_KEY = 'demo-key-0123456789';

export interface AdminGateway {
  gw: TestGateway;
  up: TestUpstream;
  dir: string;
  db: string;
  api(method: string, path: string, body?: unknown, headers?: OutgoingHttpHeaders): Promise<SendResult>;
  close(): Promise<void>;
}

/** `extra` is more top-level YAML; `admin` replaces the admin block (default: the token above). */
export async function startAdminGateway(opts: { extra?: string; admin?: string; routes?: string } & StartOptions = {}): Promise<AdminGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-admin-'));
  const db = join(dir, 'store.db');
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end('{"ok":true}');
  });
  const yaml = `
store: "sqlite:${db}"
limits: { refresh: 100ms, usageFlush: 100ms }
${opts.admin ?? `admin: { token: "${ADMIN_TOKEN}" }`}
upstreams: { app: { url: "${up.url}" } }
plans:
  free: { limits: { hits: [{ per: day, max: 1000 }] } }
applications:
  - { id: demo, plan: free, keys: ["${DEMO_KEY}"] }
routes:
${
  opts.routes ??
  `  - name: private
    match: { prefix: /private/ }
    upstream: app
    policies:
      - auth: { apiKey: { header: x-api-key } }
      - usage: {}
  - name: cached
    match: { prefix: /cached/ }
    upstream: app
    policies: [{ cache: { store: memory } }]`
}
${opts.extra ?? ''}
`;
  const gw = await startTestGateway(yaml, opts);
  return {
    gw,
    up,
    dir,
    db,
    api(method, path, body, headers) {
      const h: OutgoingHttpHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers };
      if (body !== undefined) h['content-type'] = 'application/json';
      return send(gw.adminUrl, { method, path, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    },
    async close() {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
