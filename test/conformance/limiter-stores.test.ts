/**
 * One suite for every limiter store (memory, redis): counting, refunds, expiry, and atomic counting under
 * concurrency (what makes "exactly N of M" hold across instances).
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { createPersistedMemoryLimiterStore } from '../../src/consumers/limit-journal.js';
import { createMemoryLimiterStore, createRedisLimiterStore } from '../../src/consumers/limiter.js';
import type { LimiterStore } from '../../src/consumers/limiter.js';
import { openStore } from '../../src/store/index.js';
import { redisAvailable } from '../helpers/services.js';

const redisUrl = await redisAvailable();
const ns = `tollgate:test:${randomBytes(4).toString('hex')}:`;

function suite(name: string, make: () => Promise<LimiterStore>) {
  describe(`limiter store: ${name}`, () => {
    const key = () => `k${randomBytes(6).toString('hex')}`;

    it('counts up per key, each key on its own', async () => {
      const s = await make();
      const a = key();
      expect((await s.consume(a, 1, 60)).count).toBe(1);
      expect((await s.consume(a, 2, 60)).count).toBe(3);
      expect((await s.consume(key(), 1, 60)).count).toBe(1);
      expect(await s.peek(a)).toBe(3);
      expect(await s.peek(key())).toBe(0);
      await s.close();
    });

    it('a refund gives points back', async () => {
      const s = await make();
      const a = key();
      await s.consume(a, 5, 60);
      await s.refund(a, 2, 60);
      expect(await s.peek(a)).toBe(3);
      await s.close();
    });

    it('a counter is gone after its TTL', async () => {
      const s = await make();
      const a = key();
      await s.consume(a, 1, 1);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await s.consume(a, 1, 1)).count).toBe(1);
      await s.close();
    });

    it('consumeMany (where offered) counts several keys at once, on the same counters as consume', async () => {
      const s = await make();
      if (!s.consumeMany) return s.close();
      const a = key();
      const b = key();
      await s.consume(a, 2, 60);
      expect(await s.consumeMany([{ key: a, points: 1, ttlSeconds: 60 }, { key: b, points: 4, ttlSeconds: 60 }])).toEqual([3, 4]);
      await s.refund(b, 1, 60);
      expect(await s.peek(b)).toBe(3);
      const counts = await Promise.all(Array.from({ length: 50 }, () => s.consumeMany!([{ key: a, points: 1, ttlSeconds: 60 }])));
      expect(new Set(counts.map((c) => c[0])).size).toBe(50);
      await s.close();
    });

    it('concurrent consumes get distinct counts (exactly 10 of 100 see a count <= 10)', async () => {
      const s = await make();
      const a = key();
      const counts = await Promise.all(Array.from({ length: 100 }, async () => (await s.consume(a, 1, 60)).count));
      expect(new Set(counts).size).toBe(100);
      expect(counts.filter((c) => c <= 10)).toHaveLength(10);
      await s.close();
    });
  });
}

suite('memory', async () => createMemoryLimiterStore());

// The embedded default: memory counters journaled to a SQL store (an in-memory SQLite, dropped with the worker).
suite('memory, persisted to sqlite', async () => createPersistedMemoryLimiterStore(await openStore('sqlite::memory:'), { flushMs: 0 }));

describe('memory limiter persisted to the store', () => {
  it('a new limiter on the same store starts from the counters the last one wrote at close (refunds included)', async () => {
    const sql = await openStore('sqlite::memory:');
    const first = await createPersistedMemoryLimiterStore(sql, { flushMs: 0 });
    await first.consume('day', 3, 3600);
    await first.refund('day', 1, 3600);
    await first.consume('forever', 5, 0);
    await first.consume('second', 4, 1); // a per-second window: not worth persisting
    await first.close();
    const second = await createPersistedMemoryLimiterStore(sql, { flushMs: 0 });
    expect([second.peek('day'), second.peek('forever'), second.peek('second')]).toEqual([2, 5, 0]);
    expect((second.consume('day', 1, 3600) as { count: number }).count).toBe(3);
    await second.close();
    expect((await sql.loadLimitCounters(new Date())).find((c) => c.key === 'day')?.value).toBe(3);
    await sql.close();
  });
});

describe.skipIf(!redisUrl)('redis', () => {
  const clients: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    const c = createClient({ url: redisUrl });
    await c.connect();
    for await (const keys of c.scanIterator({ MATCH: `${ns}*` })) if (keys.length) await c.del(keys);
    await c.close();
  });
  suite('redis', async () => {
    const c = createClient({ url: redisUrl });
    await c.connect();
    clients.push(c);
    return createRedisLimiterStore(c, ns, async () => void (await c.close()));
  });
});
