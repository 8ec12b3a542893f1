/**
 * Applying a config is all or nothing: parse, validate, compile, and only then sync the declared consumers
 * into the store. A reload (or a start) whose config has an error writes nothing to the store, so a config
 * key keeps working while the log says the previous config keeps serving.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/gateway.js';
import { openStore } from '../../src/store/index.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

const OLD_KEY = 'old-config-key-0123456789';
const NEW_KEY = 'new-config-key-0123456789';

let dir: string;
let upstreamUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-reload-atomic-'));
  upstreamUrl = (await startUpstream()).url;
});
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

/** A keyed route with a map-errors rule whose regex is `regex`; `apps` adds applications. */
const config = (db: string, key: string, regex: string, apps = '') => `
store: "sqlite:${db}"
limits: { refresh: 50ms }
upstreams: { app: { url: "${upstreamUrl}" } }
plans: { free: {} }
applications:
  - { id: demo, plan: free, keys: ["${key}"] }
${apps}
routes:
  - name: private
    match: { prefix: /private/ }
    upstream: app
    policies:
      - auth: { apiKey: { header: x-api-key } }
      - map-errors: { rules: [{ when: { bodyMatches: "${regex}" }, respond: { status: 502 } }] }
`;

const status = async (url: string, key: string) => (await send(url, { path: '/private/x', headers: { 'x-api-key': key } })).status;

describe('a config with an error changes nothing', () => {
  it('reload: a bad regex and a changed key list -> the old key still works, the store is untouched', async () => {
    const db = join(dir, 'reload.db');
    const file = join(dir, 'reload.yaml');
    writeFileSync(file, config(db, OLD_KEY, '^ERROR'));
    const gw = await startTestGateway('', { configFile: file });
    expect(await status(gw.url, OLD_KEY)).toBe(200);

    const store = await openStore(`sqlite:${db}`);
    try {
      const before = await store.version();
      writeFileSync(file, config(db, NEW_KEY, '([', '  - { id: added, plan: free }'));
      const failed = await gw.gateway.reload().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(failed?.message).toMatch(/policies\[1\]\.map-errors: .*not a valid regular expression/);
      // Longer than the directory's refresh: a revocation written by the failed reload would show by now.
      await new Promise((r) => setTimeout(r, 300));
      expect(await status(gw.url, OLD_KEY)).toBe(200);
      expect(await status(gw.url, NEW_KEY)).toBe(401);
      expect(await store.version()).toBe(before);
      expect((await store.listApplications()).map((a) => a.id)).toEqual(['demo']);
      expect((await store.listCredentials('demo')).filter((c) => c.revokedAt === null)).toHaveLength(1);

      // The same change without the error applies: the key list is synced, then swapped in.
      writeFileSync(file, config(db, NEW_KEY, '^ERROR', '  - { id: added, plan: free }'));
      await gw.gateway.reload();
      expect(await status(gw.url, NEW_KEY)).toBe(200);
      expect(await status(gw.url, OLD_KEY)).toBe(401);
      expect((await store.listApplications()).map((a) => a.id).sort()).toEqual(['added', 'demo']);
    } finally {
      await store.close();
      await gw.close();
    }
  });

  it('start: a config that does not compile writes nothing to the store', async () => {
    const db = join(dir, 'start.db');
    const file = join(dir, 'start.yaml');
    writeFileSync(file, config(db, OLD_KEY, '(['));
    await expect(startGateway({ configFile: file, log: pino({ level: 'silent' }), overrides: { host: '127.0.0.1', port: 0, adminPort: 0 } })).rejects.toThrow(
      /not a valid regular expression/,
    );
    const store = await openStore(`sqlite:${db}`);
    try {
      expect(await store.listApplications()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
