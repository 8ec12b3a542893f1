import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { createClient } from 'redis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore, createTieredStore, openDiskStore, openRedisStore } from '../../src/cache/stores/index.js';
import type { CacheStore, DiskStore } from '../../src/cache/stores/index.js';
import { redisAvailable } from '../helpers/services.js';
import { binaryBody, metaFor, readBody, runCacheStoreConformance, write } from './cache-store.suite.js';
import type { CacheStoreFixture, FixtureOptions } from './cache-store.suite.js';

const redisUrl = await redisAvailable();
/** One namespace per test run, so parallel runs and leftovers never meet. */
const RUN_NAMESPACE = `tollgate-test:${process.pid}:${randomUUID()}:`;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tollgate-cache-'));
}

async function memoryFixture(options: FixtureOptions): Promise<CacheStoreFixture> {
  const store = createMemoryStore({ maxSize: options.maxSize, maxEntrySize: 256 * 1024 });
  return { store, cleanup: () => store.close() };
}

async function diskFixture(options: FixtureOptions): Promise<CacheStoreFixture> {
  const dir = await tempDir();
  const open = (): Promise<DiskStore> => openDiskStore({ dir, maxSize: options.maxSize, maxEntrySize: 1024 * 1024 });
  const opened: CacheStore[] = [await open()];
  return {
    store: opened[0],
    reopen: async () => {
      const store = await open();
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      await Promise.all(opened.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function redisFixture(): Promise<CacheStoreFixture> {
  const namespace = `${RUN_NAMESPACE}${randomUUID()}:`;
  const open = (): Promise<CacheStore> => openRedisStore({ url: redisUrl!, namespace });
  const opened: CacheStore[] = [await open()];
  return {
    store: opened[0],
    reopen: async () => {
      const store = await open();
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      await Promise.all(opened.map((s) => s.close()));
      await deleteNamespace(namespace);
    },
  };
}

async function deleteNamespace(namespace: string): Promise<void> {
  const client = await createClient({ url: redisUrl! }).connect();
  try {
    const pattern = `${namespace.replace(/[*?[\]\\]/g, '\\$&')}*`;
    for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 500 })) {
      if (keys.length > 0) await client.del(keys);
    }
  } finally {
    client.destroy();
  }
}

async function tieredFixture(small: CacheStoreFixture, large: CacheStoreFixture, threshold: number): Promise<CacheStoreFixture> {
  const store = createTieredStore({ small: small.store, large: large.store, threshold });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await small.cleanup();
      await large.cleanup();
    },
  };
}

runCacheStoreConformance('memory', memoryFixture, { evicts: true });
runCacheStoreConformance('disk', diskFixture, { evicts: true, persists: 'restart' });
runCacheStoreConformance('tiered memory + disk', async (o) => tieredFixture(await memoryFixture(o), await diskFixture(o), 16 * 1024), {
  evicts: true,
});

describe.skipIf(!redisUrl)('redis', () => {
  runCacheStoreConformance('redis', redisFixture, { persists: 'shared' });
  runCacheStoreConformance('tiered redis + disk', async (o) => tieredFixture(await redisFixture(), await diskFixture(o), 64 * 1024));
});

describe('memory store', () => {
  it('answers a hit synchronously with the same object every time', async () => {
    const store = createMemoryStore();
    await write(store, 'k', Buffer.from('{"ok":true}'));
    const first = store.peek('k');
    expect(first?.body?.toString()).toBe('{"ok":true}');
    expect(store.peek('k')).toBe(first);
    expect(await store.get('k')).toBe(first);
    expect(store.peek('other')).toBeUndefined();
  });
});

describe('disk store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('streams a 50 MB body in and out intact', async () => {
    const store = await openDiskStore({ dir });
    const chunk = 64 * 1024;
    const chunks = (50 * 1024 * 1024) / chunk;
    const written = createHash('sha256');
    const ws = store.createWriteStream('GET /big.bin', metaFor(), { expectedSize: chunks * chunk });
    for (let i = 0; i < chunks; i++) {
      const data = binaryBody(chunk, i);
      written.update(data);
      if (!ws.write(data)) await new Promise((resolve) => ws.once('drain', resolve));
    }
    ws.end();
    await finished(ws);

    const hit = await store.get('GET /big.bin');
    expect(hit?.body).toBeUndefined();
    expect(hit?.size).toBe(chunks * chunk);
    const read = createHash('sha256');
    for await (const data of await hit!.open()) read.update(data as Buffer);
    expect(read.digest('hex')).toBe(written.digest('hex'));
    await store.close();
  });

  it('treats a body file cut short behind its back (crash without fsync) as a miss', async () => {
    const store = await openDiskStore({ dir });
    await write(store, 'k', binaryBody(10_000));
    const files = (await readdir(join(dir, 'v1', 'entries'), { recursive: true })).filter((f) => f.endsWith('.bin'));
    await truncate(join(dir, 'v1', 'entries', files[0]), 5000);
    const hit = await store.get('k');
    await expect(hit!.open()).rejects.toThrow(/expected 10000/);
    await store.close();
  });

  it('cleans up partial fills of dead processes and orphan bodies when it opens, not a live fill', async () => {
    const first = await openDiskStore({ dir });
    await write(first, 'kept', binaryBody(100));
    const ws = first.createWriteStream('unfinished', metaFor());
    ws.write(binaryBody(1000));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const live = await readdir(join(dir, 'v1', 'tmp'));
    expect(live).toHaveLength(1);
    await writeFile(join(dir, 'v1', 'entries', 'orphan-0000.bin'), 'x');
    // A crash: a process went away with a fill half done (its pid names the file; it no longer runs).
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(join(dir, 'v1', 'tmp', `${deadPid}-0123456789abcdef`), binaryBody(1000));
    const second = await openDiskStore({ dir });
    expect(await readdir(join(dir, 'v1', 'tmp'))).toEqual(live);
    const bins = (await readdir(join(dir, 'v1', 'entries'), { recursive: true })).filter((f) => f.endsWith('.bin'));
    expect(bins).toHaveLength(1);
    expect((await readBody((await second.get('kept'))!)).equals(binaryBody(100))).toBe(true);
    ws.destroy();
    await second.close();
  });
});

describe('tiered store', () => {
  let dir: string;
  let store: ReturnType<typeof createTieredStore>;
  beforeEach(async () => {
    dir = await tempDir();
    store = createTieredStore({ small: createMemoryStore(), large: await openDiskStore({ dir }), threshold: 64 * 1024 });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps small bodies in memory and moves a growing body to disk past the threshold', async () => {
    await write(store, 'small', binaryBody(1000));
    await write(store, 'large', [binaryBody(60_000, 1), binaryBody(60_000, 2)]);
    expect((await store.get('small'))?.body).toBeDefined();
    const large = await store.get('large');
    expect(large?.body).toBeUndefined();
    expect((await readBody(large!)).equals(Buffer.concat([binaryBody(60_000, 1), binaryBody(60_000, 2)]))).toBe(true);
  });

  it('peeks small entries synchronously and answers null for large ones, which only get can read', async () => {
    await write(store, 'small', binaryBody(1000));
    await write(store, 'large', binaryBody(100_000), metaFor(), { expectedSize: 100_000 });
    expect(store.peek?.('small')?.size).toBe(1000);
    expect(store.peek?.('large')).toBeNull();
    expect((await store.get('large'))?.size).toBe(100_000);
  });

  it('picks the tier from the announced size', async () => {
    const body = binaryBody(100_000);
    await write(store, 'announced', body, metaFor(), { expectedSize: body.length });
    expect((await store.get('announced'))?.body).toBeUndefined();
  });

  it('leaves one entry when an overwrite changes tier', async () => {
    await write(store, 'k', binaryBody(200_000));
    await write(store, 'k', binaryBody(10, 3));
    expect((await store.stats()).entries).toBe(1);
    expect((await store.get('k'))?.size).toBe(10);
    await write(store, 'k', binaryBody(200_000, 4));
    expect((await store.stats()).entries).toBe(1);
    expect(await store.delete('k')).toBe(true);
    expect(await store.get('k')).toBeUndefined();
  });
});
