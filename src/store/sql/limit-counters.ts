/** The in-process limiter's journal: counters per key that survive a restart without Redis (not versioned). */
import { iso, num } from '../rows.js';
import { StoreError } from '../types.js';
import type { LimitCounter, LimitCounterDelta } from '../types.js';
import { INSERT_CHUNK } from './context.js';
import type { SqlContext } from './context.js';

export class LimitCounterRepository {
  constructor(private readonly ctx: SqlContext) {}

  async add(batch: readonly LimitCounterDelta[]): Promise<void> {
    // Summed per key first, as usage is: one upsert must not touch a row twice on Postgres.
    const sums = new Map<string, { key: string; value: number; expires_at: string | null }>();
    for (const c of batch) {
      if (!Number.isSafeInteger(c.delta)) throw new StoreError('INVALID', 'limit counter delta must be an integer.');
      const row = sums.get(c.key);
      if (row) row.value += c.delta;
      else sums.set(c.key, { key: c.key, value: c.delta, expires_at: c.expiresAt && iso(c.expiresAt) });
    }
    const rows = [...sums.values()].filter((r) => r.value !== 0);
    if (rows.length === 0) return;
    await this.ctx.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('limit_counters')
          .values(rows.slice(i, i + INSERT_CHUNK))
          .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ value: eb('limit_counters.value', '+', eb.ref('excluded.value')) })))
          .execute();
      }
    });
  }

  async load(now: Date): Promise<LimitCounter[]> {
    const rows = await this.ctx.db
      .selectFrom('limit_counters')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', iso(now))]))
      .execute();
    return rows.map((r) => ({ key: r.key, value: num(r.value), expiresAt: r.expires_at === null ? null : new Date(r.expires_at) }));
  }

  async prune(now: Date): Promise<number> {
    const res = await this.ctx.db.deleteFrom('limit_counters').where('expires_at', '<=', iso(now)).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
