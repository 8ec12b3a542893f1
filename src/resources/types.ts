/**
 * The contract between resource routes (data plane) and the tables behind them. Routes import this file
 * only, never the SQL implementation (src/resources/sql-table.ts), so they stay free of kysely and drivers.
 */
import type { ResourceRecord } from './fields.js';
import type { ResourceConfig } from './schema.js';

export type Key = string | number;

export interface ListQuery {
  /** Field → value the records must equal (values already in the field's type). */
  filters: Record<string, unknown>;
  /** Fields to order by, in order; the key is always the last tie-breaker. */
  ordering: { field: string; desc: boolean }[];
  offset: number;
  limit: number;
}

/** What a mutation decides once it has seen the current record (read in the same transaction). */
export type MutationStep<T> =
  | { write: ResourceRecord; result: T }
  | { delete: true; result: T }
  | { stop: true; result: T };

/** A unique field (or the key) already has the value a write wanted. */
export class ResourceConflict extends Error {
  constructor(readonly field: string | undefined) {
    super(field ? `${field}: another record already has this value` : 'another record already has one of these unique values');
    this.name = 'ResourceConflict';
  }
}

export interface ResourceTable {
  readonly name: string;
  readonly config: ResourceConfig;
  list(query: ListQuery): Promise<{ count: number; records: ResourceRecord[] }>;
  get(key: Key): Promise<ResourceRecord | undefined>;
  /** Inserts a record; a missing key gets the next integer (integer keys) or a UUID (string keys). Throws ResourceConflict. */
  create(record: ResourceRecord): Promise<ResourceRecord>;
  /**
   * Reads the record under `key` and applies what `decide` returns, in one transaction with the row locked
   * (Postgres) or the database locked (SQLite), so a condition checked in `decide` (If-Match) still holds
   * when the write lands. `write` replaces the whole record. Throws ResourceConflict.
   */
  mutate<T>(key: Key, decide: (current: ResourceRecord | undefined) => MutationStep<T>): Promise<{ result: T; record: ResourceRecord | undefined }>;
}

/** Resource tables by name, as the gateway provides them to resource routes. */
export interface ResourceRegistry {
  get(name: string): ResourceTable | undefined;
}

/**
 * Whether a failed query says the database is unreachable or busy (answered 503, retry later) rather than
 * a bug (500): connection refused/reset/ended, connect or query timeouts, SQLite's busy lock.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = typeof err?.message === 'string' ? err.message : '';
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|SQLITE_BUSY|SQLITE_LOCKED|57P01|57P03|53300)$/.test(code) ||
    /timeout|Connection terminated|connection is closed|Client has encountered a connection error/i.test(message)
  );
}
