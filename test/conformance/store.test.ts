import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, openStore } from '../../src/store/index.js';
import { TABLES } from '../../src/store/schema.js';
import { postgresAvailable } from '../helpers/services.js';
import { runStoreConformance } from './store.suite.js';
import type { StoreHarness } from './store.suite.js';

async function sqliteHarness(options: { now?: () => Date } = {}): Promise<StoreHarness & { url: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-store-'));
  const file = join(dir, 'tollgate.db');
  const url = `sqlite:${file}`;
  const store = await openStore(url, options);
  return {
    url,
    store,
    // The raw bytes of the database and its write-ahead log: what an attacker with the file would see.
    rawContents: async () => {
      const parts = await Promise.all([file, `${file}-wal`].map((f) => readFile(f).catch(() => Buffer.alloc(0))));
      return Buffer.concat(parts).toString('latin1');
    },
    destroy: () => rm(dir, { recursive: true, force: true }),
  };
}

runStoreConformance('sqlite (file)', sqliteHarness);

describe('sqlite store URLs and migrations', () => {
  it('migrates once: reopening and `migrate` find nothing left to do', async () => {
    const h = await sqliteHarness();
    try {
      await h.store.createService({ id: 'kept' });
      await h.store.close();
      expect(await migrate(h.url)).toEqual([]);
      const again = await openStore(h.url);
      expect((await again.getService('kept'))?.id).toBe('kept');
      await again.close();
    } finally {
      await h.destroy();
    }
  });

  it('opens an in-memory store and refuses an unknown URL', async () => {
    const store = await openStore('sqlite::memory:');
    expect(store.dialect).toBe('sqlite');
    expect(await store.version()).toBe(0);
    await store.close();
    await expect(openStore('mysql://localhost/x')).rejects.toThrow(/sqlite: or postgres:\/\//);
  });

  it('applies migrations to a fresh file through `migrate`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-store-'));
    try {
      const url = `sqlite:${join(dir, 'fresh.db')}`;
      expect(await migrate(url)).toEqual(['0001_initial', '0002_limit_counters', '0003_oauth_tokens']);
      const store = await openStore(url, { migrate: false });
      expect(await store.listServices()).toEqual([]);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const pgUrl = await postgresAvailable();

/** A fresh schema per store, dropped afterwards, so parallel runs and files never see each other's rows. */
async function postgresHarness(options: { now?: () => Date } = {}): Promise<StoreHarness & { url: string }> {
  const schema = `tg_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const u = new URL(pgUrl!);
  u.searchParams.set('schema', schema);
  const url = u.toString();
  const store = await openStore(url, options);
  const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  return {
    url,
    store,
    rawContents: () =>
      withClient(async (c) => {
        const out: string[] = [];
        for (const table of TABLES) {
          const res = await c.query<{ row: string }>(`select row_to_json(t)::text as row from "${schema}"."${table}" t`);
          out.push(...res.rows.map((r) => r.row));
        }
        return out.join('\n');
      }),
    destroy: () => withClient((c) => c.query(`drop schema if exists "${schema}" cascade`).then(() => undefined)),
  };
}

describe.skipIf(!pgUrl)('postgres', () => {
  runStoreConformance('postgres (own schema)', postgresHarness);

  it('migrates once per schema', async () => {
    const h = await postgresHarness();
    try {
      expect(h.store.dialect).toBe('postgres');
      await h.store.close();
      expect(await migrate(h.url)).toEqual([]);
    } finally {
      await h.destroy();
    }
  });
});
