/**
 * The one behaviour every cache store must show (src/cache/stores/types.ts). Run it with
 * `runCacheStoreConformance(name, factory, options)` from a *.test.ts file; see cache-stores.test.ts.
 */
import { finished } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheBodyLengthError } from '../../src/cache/stores/index.js';
import type { CacheHit, CacheMeta, CacheStore, CacheWriteOptions, CacheWriteStream } from '../../src/cache/stores/index.js';

export interface CacheStoreFixture {
  store: CacheStore;
  /**
   * Opens another store over the same storage. 'restart' stores (disk) get `store` closed first;
   * 'shared' stores (Redis) keep both open, like two gateway instances.
   */
  reopen?(): Promise<CacheStore>;
  /** Closes every store the fixture opened and removes what the test left behind. */
  cleanup(): Promise<void>;
}

export interface FixtureOptions {
  /** Size cap for the eviction test; otherwise the store's default. */
  maxSize?: number;
}

export interface ConformanceOptions {
  /** The store evicts least recently used entries beyond its `maxSize`. */
  evicts?: boolean;
  /** What `reopen` offers: entries survive a restart, or are seen by a second live instance. */
  persists?: 'restart' | 'shared';
}

/** Bodies above this are too slow for a conformance run; the oversize test is skipped for larger limits. */
const OVERSIZE_TEST_LIMIT = 4 * 1024 * 1024;

export function metaFor(extra: Partial<CacheMeta> = {}): CacheMeta {
  return {
    status: 200,
    headers: [
      ['content-type', 'application/json'],
      ['vary', 'accept'],
      ['link', '</a>; rel="next"'],
      ['link', '</b>; rel="prev"'],
    ],
    storedAt: Date.now(),
    tags: [],
    ...extra,
  };
}

/** Bytes covering every value, so an encoding slip (utf8, latin1) shows. */
export function binaryBody(size: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

export async function write(
  store: CacheStore,
  key: string,
  body: Buffer | Buffer[],
  meta: CacheMeta = metaFor(),
  options?: CacheWriteOptions,
): Promise<CacheWriteStream> {
  const ws = store.createWriteStream(key, meta, options);
  for (const chunk of Array.isArray(body) ? body : [body]) {
    if (!ws.write(chunk)) await new Promise((resolve) => ws.once('drain', resolve));
  }
  ws.end();
  await finished(ws);
  return ws;
}

export async function readBody(hit: CacheHit): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await hit.open()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function split(body: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(body.subarray(at, at + n));
    at += n;
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function runCacheStoreConformance(
  name: string,
  factory: (options: FixtureOptions) => Promise<CacheStoreFixture>,
  options: ConformanceOptions = {},
): void {
  describe(`cache store conformance: ${name}`, () => {
    let fixture: CacheStoreFixture;
    let store: CacheStore;

    beforeEach(async () => {
      fixture = await factory({});
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('misses a key that was never written', async () => {
      expect(await store.get('GET https://api.example/never')).toBeUndefined();
    });

    it('returns the exact body bytes and meta that were written', async () => {
      const body = binaryBody(200_000);
      const meta = metaFor({
        status: 203,
        tags: ['release:1', 'artist:2'],
        deleteAt: Date.now() + 60_000,
        policy: { v: 1, resh: { etag: '"abc"' }, nested: [1, 'two', null, { three: true }] },
      });
      const ws = await write(store, 'GET https://api.example/releases/1?q=ü', split(body, [1, 4096, 777, 65536]), meta);
      expect(ws.stored).toBe(true);

      const hit = await store.get('GET https://api.example/releases/1?q=ü');
      expect(hit).toBeDefined();
      expect(hit!.key).toBe('GET https://api.example/releases/1?q=ü');
      expect(hit!.size).toBe(body.length);
      expect(hit!.meta).toEqual(meta);
      const stream = await hit!.open();
      expect(stream.readableObjectMode).toBe(false);
      stream.destroy();
      expect((await readBody(hit!)).equals(body)).toBe(true);
      if (hit!.body !== undefined) expect(hit!.body.equals(body)).toBe(true);
    });

    it('stores an empty body', async () => {
      await write(store, 'k-empty', [], metaFor({ status: 204 }));
      const hit = await store.get('k-empty');
      expect(hit?.size).toBe(0);
      expect(hit?.meta.status).toBe(204);
      expect((await readBody(hit!)).length).toBe(0);
    });

    it('keeps an entry invisible until its write finishes', async () => {
      const ws = store.createWriteStream('k-pending', metaFor());
      ws.write(binaryBody(10_000));
      await sleep(10);
      expect(await store.get('k-pending')).toBeUndefined();
      ws.write(binaryBody(10_000, 1));
      await sleep(10);
      expect(await store.get('k-pending')).toBeUndefined();
      ws.end();
      await finished(ws);
      expect((await store.get('k-pending'))?.size).toBe(20_000);
    });

    it('stores nothing when the write is destroyed (a body cut short is never cached)', async () => {
      const ws = store.createWriteStream('k-destroyed', metaFor());
      ws.on('error', () => {});
      ws.write(binaryBody(50_000));
      ws.destroy(new Error('upstream reset'));
      await finished(ws).catch(() => {});
      await sleep(20);
      expect(await store.get('k-destroyed')).toBeUndefined();
      expect((await store.stats()).entries).toBe(0);
      expect(ws.stored).toBe(false);
    });

    it('keeps the previous entry intact when an overwrite is destroyed', async () => {
      const old = binaryBody(30_000, 1);
      await write(store, 'k-keep', old, metaFor({ headers: [['x-version', 'old']] }));
      const ws = store.createWriteStream('k-keep', metaFor({ headers: [['x-version', 'new']] }));
      ws.on('error', () => {});
      ws.write(binaryBody(10_000, 2));
      ws.destroy();
      await finished(ws).catch(() => {});
      const hit = await store.get('k-keep');
      expect(hit?.meta.headers).toEqual([['x-version', 'old']]);
      expect((await readBody(hit!)).equals(old)).toBe(true);
    });

    it('refuses a body shorter than its announced Content-Length', async () => {
      const ws = store.createWriteStream('k-short', metaFor(), { expectedSize: 1000 });
      const failed = finished(ws).then(
        () => undefined,
        (err: unknown) => err,
      );
      ws.write(binaryBody(600));
      ws.end();
      expect(await failed).toBeInstanceOf(CacheBodyLengthError);
      expect(await store.get('k-short')).toBeUndefined();
    });

    it('skips a body larger than maxEntrySize without failing the write', async (ctx) => {
      if (store.maxEntrySize > OVERSIZE_TEST_LIMIT) ctx.skip();
      const big = binaryBody(store.maxEntrySize + 1);
      const ws = await write(store, 'k-big', split(big, [65536]));
      expect(ws.stored).toBe(false);
      expect(await store.get('k-big')).toBeUndefined();

      const announced = await write(store, 'k-big-announced', [Buffer.from('x')], metaFor(), { expectedSize: store.maxEntrySize + 1 }).catch((e: unknown) => e);
      // Announced too large: skipped before a byte is kept; a short body then is not an error either.
      expect(announced).not.toBeInstanceOf(Error);
      expect(await store.get('k-big-announced')).toBeUndefined();
    });

    it('replaces body and meta on overwrite', async () => {
      await write(store, 'k-over', binaryBody(5000, 1), metaFor({ headers: [['etag', '"1"']] }));
      const second = binaryBody(7000, 2);
      await write(store, 'k-over', second, metaFor({ headers: [['etag', '"2"']] }));
      const hit = await store.get('k-over');
      expect(hit?.meta.headers).toEqual([['etag', '"2"']]);
      expect(hit?.size).toBe(7000);
      expect((await readBody(hit!)).equals(second)).toBe(true);
      expect((await store.stats()).entries).toBe(1);
    });

    it('updates meta without touching the body (revalidation)', async () => {
      const body = binaryBody(9000);
      await write(store, 'k-meta', body, metaFor({ headers: [['etag', '"1"']], tags: ['a'] }));
      const refreshed = metaFor({ headers: [['etag', '"1"'], ['cache-control', 'max-age=60']], tags: ['b'], storedAt: Date.now() + 5 });
      expect(await store.updateMeta('k-meta', refreshed)).toBe(true);
      const hit = await store.get('k-meta');
      expect(hit?.meta).toEqual(refreshed);
      expect((await readBody(hit!)).equals(body)).toBe(true);
      expect(await store.purge({ tag: 'a' })).toBe(0);
      expect(await store.purge({ tag: 'b' })).toBe(1);
      expect(await store.updateMeta('k-missing', refreshed)).toBe(false);
      expect(await store.get('k-missing')).toBeUndefined();
    });

    it('deletes an entry', async () => {
      await write(store, 'k-del', binaryBody(100));
      expect(await store.delete('k-del')).toBe(true);
      expect(await store.get('k-del')).toBeUndefined();
      expect(await store.delete('k-del')).toBe(false);
      expect((await store.stats()).entries).toBe(0);
    });

    it('purges by key prefix, literally', async () => {
      for (const key of ['GET /a/1', 'GET /a/2', 'GET /ab', 'GET /b/1', 'GET /[x]*?', 'GET /[y]']) await write(store, key, binaryBody(10));
      expect(await store.purge({ prefix: 'GET /a/' })).toBe(2);
      expect(await store.get('GET /a/1')).toBeUndefined();
      expect(await store.get('GET /ab')).toBeDefined();
      expect(await store.purge({ prefix: 'GET /[x]*' })).toBe(1);
      expect(await store.get('GET /[y]')).toBeDefined();
      expect(await store.purge({ prefix: 'GET /nothing' })).toBe(0);
      expect((await store.stats()).entries).toBe(3);
    });

    it('purges by tag, and by tag and prefix together', async () => {
      await write(store, 'k-t1', binaryBody(10), metaFor({ tags: ['release:1', 'all'] }));
      await write(store, 'k-t2', binaryBody(10), metaFor({ tags: ['release:2', 'all'] }));
      await write(store, 'x-t3', binaryBody(10), metaFor({ tags: ['all'] }));
      await write(store, 'k-none', binaryBody(10));
      expect(await store.purge({ tag: 'release:1' })).toBe(1);
      expect(await store.get('k-t1')).toBeUndefined();
      expect(await store.get('k-t2')).toBeDefined();
      expect(await store.purge({ tag: 'all', prefix: 'x-' })).toBe(1);
      expect(await store.get('k-t2')).toBeDefined();
      expect(await store.purge({ tag: 'all' })).toBe(1);
      expect(await store.purge({ tag: 'unknown' })).toBe(0);
      expect(await store.get('k-none')).toBeDefined();
    });

    it('does not purge an entry by a tag its overwrite dropped', async () => {
      await write(store, 'k-retag', binaryBody(10), metaFor({ tags: ['old'] }));
      await write(store, 'k-retag', binaryBody(10), metaFor({ tags: ['new'] }));
      expect(await store.purge({ tag: 'old' })).toBe(0);
      expect(await store.get('k-retag')).toBeDefined();
    });

    it('purges everything with an empty filter', async () => {
      await write(store, 'k-1', binaryBody(10));
      await write(store, 'k-2', binaryBody(10), metaFor({ tags: ['t'] }));
      expect(await store.purge({})).toBe(2);
      expect(await store.stats()).toEqual({ entries: 0, bytes: 0 });
    });

    it('counts entries and bytes', async () => {
      expect(await store.stats()).toEqual({ entries: 0, bytes: 0 });
      await write(store, 'k-s1', binaryBody(1000));
      await write(store, 'k-s2', binaryBody(3000));
      const two = await store.stats();
      expect(two.entries).toBe(2);
      expect(two.bytes).toBeGreaterThanOrEqual(4000);
      await store.delete('k-s2');
      const one = await store.stats();
      expect(one.entries).toBe(1);
      expect(one.bytes).toBeGreaterThanOrEqual(1000);
      expect(one.bytes).toBeLessThan(two.bytes - 2999);
    });

    it('never returns an entry past its deleteAt', async () => {
      await write(store, 'k-dead', binaryBody(10), metaFor({ deleteAt: Date.now() - 1 }));
      expect(await store.get('k-dead')).toBeUndefined();
      await write(store, 'k-soon', binaryBody(10), metaFor({ deleteAt: Date.now() + 400 }));
      expect(await store.get('k-soon')).toBeDefined();
      await sleep(500);
      expect(await store.get('k-soon')).toBeUndefined();
      // Infinity does not survive JSON (it becomes null): it must still mean "no deadline", not "dead".
      await write(store, 'k-forever', binaryBody(10), metaFor({ deleteAt: Number.POSITIVE_INFINITY }));
      expect(await store.get('k-forever')).toBeDefined();
    });

    it('answers a synchronous peek (where the store has one) as get does: the entry, a miss, or "ask get"', async () => {
      if (!store.peek) return;
      const small = binaryBody(100);
      await write(store, 'k-peek', small);
      const viaGet = await store.get('k-peek');
      const peeked = store.peek('k-peek');
      // null: not held in memory (a disk tier); get has the answer, as above.
      if (peeked !== null) {
        expect(peeked?.size).toBe(viaGet?.size);
        expect(peeked?.meta).toEqual(viaGet?.meta);
      }
      const absent = store.peek('k-peek-never');
      expect(absent === undefined || absent === null).toBe(true);
      await write(store, 'k-peek-dead', small, metaFor({ deleteAt: Date.now() - 1 }));
      const dead = store.peek('k-peek-dead');
      expect(dead === undefined || dead === null).toBe(true);
      await store.delete('k-peek');
      const deleted = store.peek('k-peek');
      expect(deleted === undefined || deleted === null).toBe(true);
    });

    it('leaves one complete entry when writes to one key race', async () => {
      const bodies = [0, 1, 2, 3, 4].map((i) => binaryBody(20_000 + i * 1000, i));
      const writers = bodies.map((_, i) => {
        const ws = store.createWriteStream('k-race', metaFor({ headers: [['x-writer', String(i)]] }));
        ws.on('error', () => {});
        return ws;
      });
      // Interleave chunk by chunk so no writer finishes before the others started.
      for (let at = 0; at < 24_000; at += 4000) {
        writers.forEach((ws, i) => ws.write(bodies[i].subarray(at, at + 4000)));
        await sleep(1);
      }
      writers.forEach((ws) => ws.end());
      await Promise.all(writers.map((ws) => finished(ws)));

      const hit = await store.get('k-race');
      expect(hit).toBeDefined();
      const writer = Number(hit!.meta.headers[0][1]);
      expect(hit!.size).toBe(bodies[writer].length);
      expect((await readBody(hit!)).equals(bodies[writer])).toBe(true);
      expect((await store.stats()).entries).toBe(1);
    });

    if (options.evicts) {
      it('evicts the least recently used entries beyond its size cap', async () => {
        await fixture.cleanup();
        const maxSize = 64 * 1024;
        fixture = await factory({ maxSize });
        store = fixture.store;
        for (let i = 0; i < 6; i++) await write(store, `k-lru-${i}`, binaryBody(8192, i));
        expect(await store.get('k-lru-0')).toBeDefined();
        await write(store, 'k-lru-6', binaryBody(8192, 6));
        await write(store, 'k-lru-7', binaryBody(8192, 7));

        const stats = await store.stats();
        expect(stats.bytes).toBeLessThanOrEqual(maxSize);
        expect(stats.entries).toBeLessThan(8);
        expect(await store.get('k-lru-1')).toBeUndefined();
        expect(await store.get('k-lru-0')).toBeDefined();
        expect(await store.get('k-lru-7')).toBeDefined();
      });
    }

    if (options.persists === 'restart') {
      it('keeps its entries across a restart', async () => {
        const body = binaryBody(100_000);
        await write(store, 'k-persist', body, metaFor({ tags: ['p'] }));
        await write(store, 'k-persist-2', binaryBody(10));
        await store.close();
        const reopened = await fixture.reopen!();
        const hit = await reopened.get('k-persist');
        expect(hit?.meta.tags).toEqual(['p']);
        expect((await readBody(hit!)).equals(body)).toBe(true);
        expect((await reopened.stats()).entries).toBe(2);
        expect(await reopened.purge({ tag: 'p' })).toBe(1);
        expect(await reopened.get('k-persist')).toBeUndefined();
      });
    }

    if (options.persists === 'shared') {
      it("sees another instance's writes, deletes and purges", async () => {
        const other = await fixture.reopen!();
        const body = binaryBody(50_000);
        await write(store, 'k-shared', body, metaFor({ tags: ['s'] }));
        const hit = await other.get('k-shared');
        expect((await readBody(hit!)).equals(body)).toBe(true);
        await write(other, 'k-shared-2', binaryBody(10));
        expect(await store.get('k-shared-2')).toBeDefined();
        expect(await other.purge({ tag: 's' })).toBe(1);
        expect(await store.get('k-shared')).toBeUndefined();
        expect(await store.delete('k-shared-2')).toBe(true);
        expect(await other.get('k-shared-2')).toBeUndefined();
      });
    }
  });
}
