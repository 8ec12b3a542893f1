/**
 * A resource's table behind the ResourceTable contract, with kysely on SQLite or Postgres, and the bulk
 * upsert `tollgate load-data` runs. Both dialects get the same queries; only locking and the spelling of
 * errors differ.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import type { AnyDb, ResourceDb } from './db.js';
import { tableOf, uniqueIndexName } from './db.js';
import { fromRow, toRow } from './fields.js';
import type { Dialect, ResourceRecord } from './fields.js';
import type { ResourceConfig } from './schema.js';
import { ResourceConflict } from './types.js';
import type { Key, ListQuery, MutationStep, ResourceTable } from './types.js';

/** A created record's next integer key may still meet a key written meanwhile with an explicit value: retry a few times. */
const CREATE_ATTEMPTS = 5;
/** Existing rows are read in chunks this big when loading (bound parameters per query stay small). */
const LOAD_CHUNK = 500;

type AnyTx = Transaction<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The unique field a constraint error names, undefined when it is not a unique violation. */
function uniqueViolation(err: unknown, table: string, config: ResourceConfig): { field: string | undefined } | undefined {
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e?.code === '23505') {
    // Postgres: <table>_pkey or our <table>_<field>_unique.
    const c = e.constraint ?? '';
    if (c === `${table}_pkey`) return { field: config.key };
    const field = Object.keys(config.fields).find((f) => c === uniqueIndexName(table, f));
    return { field };
  }
  if (e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    // SQLite: "UNIQUE constraint failed: <table>.<field>".
    const m = /failed: [^.]+\.([a-z0-9_]+)/.exec(e.message ?? '');
    return { field: m?.[1] };
  }
  return undefined;
}

/** Where reads go when the store has read replicas (config `storeReplicas`). */
export interface ReadRouting {
  replicas: ResourceDb[];
  leaderAfterWriteMs: number;
  /** When this instance last wrote to each resource (ms since epoch); shared by the tables of every config. */
  lastWrite: Map<string, number>;
}

export class SqlResourceTable implements ResourceTable {
  readonly table: string;
  private readonly db: AnyDb;
  private readonly dialect: Dialect;
  private next = 0;

  constructor(
    readonly name: string,
    readonly config: ResourceConfig,
    rdb: ResourceDb,
    private readonly routing?: ReadRouting,
  ) {
    this.table = tableOf(name, config);
    this.db = rdb.db;
    this.dialect = rdb.dialect;
  }

  /** The leader, or a replica in turn once this instance's last write to the resource is older than the window. */
  private reader(): AnyDb {
    const r = this.routing;
    if (!r || !r.replicas.length) return this.db;
    if (Date.now() - (r.lastWrite.get(this.name) ?? 0) < r.leaderAfterWriteMs) return this.db;
    this.next = (this.next + 1) % r.replicas.length;
    return r.replicas[this.next].db;
  }

  /** Marks a write (before it starts and once it ended): reads meanwhile and right after go to the leader. */
  private wrote(): void {
    this.routing?.lastWrite.set(this.name, Date.now());
  }

  async list(q: ListQuery): Promise<{ count: number; records: ResourceRecord[] }> {
    let where = this.reader().selectFrom(this.table);
    for (const [field, value] of Object.entries(q.filters)) {
      const v = toRow(this.config, { [field]: value }, this.dialect)[field];
      where = v === null ? where.where(field, 'is', null) : where.where(field, '=', v);
    }
    const [{ n }] = await where.select((eb) => eb.fn.countAll<number | string>().as('n')).execute();
    let select = where.selectAll();
    for (const o of q.ordering) select = select.orderBy(o.field, o.desc ? 'desc' : 'asc');
    if (!q.ordering.some((o) => o.field === this.config.key)) select = select.orderBy(this.config.key, 'asc');
    const rows = await select.limit(q.limit).offset(q.offset).execute();
    return { count: Number(n), records: rows.map((r) => fromRow(this.config, r as Record<string, unknown>)) };
  }

  async get(key: Key): Promise<ResourceRecord | undefined> {
    const row = await this.reader().selectFrom(this.table).selectAll().where(this.config.key, '=', key).executeTakeFirst();
    return row ? fromRow(this.config, row) : undefined;
  }

  async create(record: ResourceRecord): Promise<ResourceRecord> {
    const keyType = this.config.fields[this.config.key].type;
    const assign = record[this.config.key] === undefined;
    this.wrote();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (tx) => {
          const full = { ...record };
          if (assign) full[this.config.key] = keyType === 'string' ? randomUUID() : await this.nextKey(tx);
          await tx.insertInto(this.table).values(toRow(this.config, full, this.dialect)).execute();
          return this.read(tx, full[this.config.key] as Key) as Promise<ResourceRecord>;
        }).finally(() => this.wrote());
      } catch (err) {
        const u = uniqueViolation(err, this.table, this.config);
        if (!u) throw err;
        if (assign && u.field === this.config.key && attempt < CREATE_ATTEMPTS) continue;
        throw new ResourceConflict(u.field);
      }
    }
  }

  async mutate<T>(key: Key, decide: (current: ResourceRecord | undefined) => MutationStep<T>): Promise<{ result: T; record: ResourceRecord | undefined }> {
    this.wrote();
    try {
      return await this.db.transaction().execute(async (tx) => {
        const current = await this.read(tx, key, true);
        const step = decide(current);
        if ('stop' in step) return { result: step.result, record: current };
        if ('delete' in step) {
          await tx.deleteFrom(this.table).where(this.config.key, '=', key).execute();
          return { result: step.result, record: undefined };
        }
        // A full replacement: fields the record leaves out become null.
        const row = toRow(this.config, { ...Object.fromEntries(Object.keys(this.config.fields).map((f) => [f, null])), ...step.write, [this.config.key]: key }, this.dialect);
        await tx.updateTable(this.table).set(row).where(this.config.key, '=', key).execute();
        return { result: step.result, record: await this.read(tx, key) };
      });
    } catch (err) {
      const u = uniqueViolation(err, this.table, this.config);
      if (u) throw new ResourceConflict(u.field);
      throw err;
    } finally {
      this.wrote();
    }
  }

  /**
   * Upserts records by key in one transaction: rows equal to what is stored are not written, so loading
   * the same file twice changes nothing. Any failure rolls the whole load back. `onProgress` gets the
   * number of records done so far.
   */
  async load(records: ResourceRecord[], onProgress?: (done: number) => void): Promise<LoadCounts> {
    const counts: LoadCounts = { inserted: 0, updated: 0, unchanged: 0 };
    await this.db.transaction().execute(async (tx) => {
      for (let from = 0; from < records.length; from += LOAD_CHUNK) {
        const chunk = records.slice(from, from + LOAD_CHUNK);
        const keys = chunk.map((r) => r[this.config.key] as Key);
        const existing = new Map<unknown, ResourceRecord>();
        for (const row of await tx.selectFrom(this.table).selectAll().where(this.config.key, 'in', keys).execute()) {
          const rec = fromRow(this.config, row);
          existing.set(rec[this.config.key], rec);
        }
        for (const [i, record] of chunk.entries()) {
          const key = record[this.config.key] as Key;
          const before = existing.get(key);
          const full = fromRow(this.config, toRow(this.config, record, this.dialect));
          try {
            if (!before) {
              await tx.insertInto(this.table).values(toRow(this.config, full, this.dialect)).execute();
              counts.inserted++;
            } else if (isDeepStrictEqual(before, full)) {
              counts.unchanged++;
            } else {
              await tx.updateTable(this.table).set(toRow(this.config, full, this.dialect)).where(this.config.key, '=', key).execute();
              counts.updated++;
            }
          } catch (err) {
            const u = uniqueViolation(err, this.table, this.config);
            throw new LoadRowError(from + i, u ? `${u.field ?? 'a unique field'}: another record already has this value` : (err as Error).message);
          }
          existing.set(key, full);
        }
        onProgress?.(Math.min(from + LOAD_CHUNK, records.length));
      }
    });
    return counts;
  }

  private async nextKey(tx: AnyTx): Promise<number> {
    // Postgres: creates on this table (from any instance) take turns until commit, so two never read the same
    // max. SQLite's writers are serialized already.
    if (this.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(${`tollgate.resource.${this.table}`}))`.execute(tx);
    const r = await tx
      .selectFrom(this.table)
      .select((eb) => eb.fn.max(this.config.key).as('m'))
      .executeTakeFirst();
    return Number((r)?.m ?? 0) + 1;
  }

  private async read(tx: AnyTx, key: Key, lock = false): Promise<ResourceRecord | undefined> {
    let q = tx.selectFrom(this.table).selectAll().where(this.config.key, '=', key);
    // SQLite has no row locks; its write transaction is serialized by kysely's single connection anyway.
    if (lock && this.dialect === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    return row ? fromRow(this.config, row) : undefined;
  }
}

export interface LoadCounts {
  inserted: number;
  updated: number;
  unchanged: number;
}

/** A record the database refused during a load (index into the loaded records). */
export class LoadRowError extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
    this.name = 'LoadRowError';
  }
}
