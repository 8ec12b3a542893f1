/**
 * What every SQL repository shares: the kysely instance, the clock, and the write plumbing. Every write
 * runs in a transaction that first bumps the one-row version counter and then logs what it touched: on
 * Postgres that row lock orders writers, so versions are handed out in commit order and a poller never
 * skips a change; on SQLite it takes the write lock up front, so a transaction never has to upgrade a read
 * lock (which fails at once with SQLITE_BUSY instead of waiting).
 */
import type { Kysely, Transaction } from 'kysely';
import { iso, num } from '../rows.js';
import type { Database } from '../schema.js';
import { StoreError } from '../types.js';
import type { ChangeEntity } from '../types.js';

/** How many versions of the change log are kept; a cursor older than that gets `reset: true`. */
export const CHANGE_LOG_RETAIN = 10_000;
const PRUNE_EVERY = 500;
/** Rows per INSERT: well under SQLite's and Postgres' bound-parameter limits (5 columns per row). */
export const INSERT_CHUNK = 200;
export const HITS = 'hits';

type Trx = Transaction<Database>;
/** Records that a write changed a row (it goes into the change log under this transaction's version). */
type Touch = (entity: ChangeEntity, id: string) => void;
/** What an upsert did, for the config sync's report. */
export type Outcome = 'created' | 'updated' | 'unchanged';
/** Inside a write: its transaction, its change recorder and its time (ISO). */
export interface WriteScope {
  trx: Trx;
  touch: Touch;
  now: string;
}

/** Thrown inside a write transaction that changed nothing, to roll back the version bump. */
/** Thrown inside a write's transaction to roll it back when it touched nothing (caught below, never escapes). */
class NothingChanged<T> extends Error {
  constructor(readonly value: T) {
    super('nothing changed');
  }
}

function isConstraintError(err: unknown, kind: 'unique' | 'foreign'): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (kind === 'unique') return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

export class SqlContext {
  constructor(
    readonly db: Kysely<Database>,
    /** Clock, for tests of expiry. */
    readonly now: () => Date,
  ) {}

  /** Runs `fn` as one versioned write (see the file comment); a write that touched nothing rolls back. */
  async write<T>(fn: (w: WriteScope) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const bumped = await trx
          .updateTable('store_version')
          .set((eb) => ({ version: eb('version', '+', 1) }))
          .where('id', '=', 1)
          .returning('version')
          .executeTakeFirstOrThrow();
        const version = num(bumped.version);
        const touched = new Map<string, { entity: ChangeEntity; id: string }>();
        const touch: Touch = (entity, id) => touched.set(`${entity}\u0000${id}`, { entity, id });
        const value = await fn({ trx, touch, now: iso(this.now()) });
        if (touched.size === 0) throw new NothingChanged(value);
        await trx
          .insertInto('changes')
          .values([...touched.values()].map((c) => ({ version, entity: c.entity, entity_id: c.id })))
          .execute();
        if (version % PRUNE_EVERY === 0) {
          await trx.deleteFrom('changes').where('version', '<=', version - CHANGE_LOG_RETAIN).execute();
        }
        return value;
      });
    } catch (err) {
      if (err instanceof NothingChanged) return err.value as T;
      if (err instanceof StoreError) throw err;
      // Driver messages may quote row values (hashes, ids): keep them in `cause` only.
      if (isConstraintError(err, 'unique')) throw new StoreError('CONFLICT', 'That already exists.', { cause: err });
      if (isConstraintError(err, 'foreign')) throw new StoreError('INVALID', 'A referenced row does not exist.', { cause: err });
      throw err;
    }
  }
}

export async function requireService(db: Kysely<Database>, id: string): Promise<void> {
  const row = await db.selectFrom('services').select('id').where('id', '=', id).executeTakeFirst();
  if (!row) throw new StoreError('INVALID', `service '${id}' does not exist.`);
}

export async function requireApplication(db: Kysely<Database>, id: string, code: 'INVALID' | 'NOT_FOUND'): Promise<void> {
  const row = await db.selectFrom('applications').select('id').where('id', '=', id).executeTakeFirst();
  if (!row) throw new StoreError(code, `application '${id}' does not exist.`);
}
