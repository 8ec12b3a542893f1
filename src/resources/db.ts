/**
 * The resource tables' own connection to the store of `store:` (SQLite file or Postgres schema), and
 * creating or migrating a resource's table from its declaration. Separate from the consumer store's
 * connection: data tables are not the control plane's, and their queries must not share its pool.
 */
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { openPgPool, parseStoreUrl } from '../store/index.js';
import type { StoreTimeouts } from '../store/index.js';
import type { Dialect } from './fields.js';
import type { FieldType, ResourceConfig } from './schema.js';

/** How long a SQLite writer waits for another process (load-data vs the gateway) to release the file. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
/** Distinct SQL texts kept prepared per SQLite connection (filters and orderings vary the text; values do not). */
const MAX_CACHED_STATEMENTS = 256;

// Resource tables are declared at run time: no static row types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDb = Kysely<any>;

export interface ResourceDb {
  db: AnyDb;
  dialect: Dialect;
  close(): Promise<void>;
}

/** `timeouts` (the gateway passes the consumer store's): a Postgres that stops answering fails queries instead of hanging them. */
export async function openResourceDb(url: string, timeouts?: StoreTimeouts): Promise<ResourceDb> {
  const location = parseStoreUrl(url);
  if (location.dialect === 'sqlite') {
    const file = new BetterSqlite3(location.filename);
    // WAL: the gateway's reads do not block a load-data run, and the other way round.
    file.pragma('journal_mode = WAL');
    file.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    // Statements are prepared once per SQL text (kysely prepares per query; a route runs the same few queries).
    const statements = new Map<string, BetterSqlite3.Statement>();
    const database = {
      prepare(text: string): BetterSqlite3.Statement {
        let stmt = statements.get(text);
        if (!stmt) {
          stmt = file.prepare(text);
          if (statements.size < MAX_CACHED_STATEMENTS) statements.set(text, stmt);
        }
        return stmt;
      },
      close: () => void file.close(),
    };
    const db: AnyDb = new Kysely({ dialect: new SqliteDialect({ database }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  const pool = await openPgPool(location, timeouts);
  const db: AnyDb = new Kysely({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

const COLUMN_TYPES: Record<Dialect, Record<FieldType, string>> = {
  sqlite: { string: 'text', integer: 'integer', number: 'real', boolean: 'integer', timestamp: 'text', json: 'text' },
  // Timestamps are stored as canonical UTC text (YYYY-MM-DDTHH:MM:SSZ): it orders chronologically and reads
  // back identically on both dialects.
  postgres: { string: 'text', integer: 'bigint', number: 'double precision', boolean: 'boolean', timestamp: 'text', json: 'jsonb' },
};

/** Column types as the databases report them, for comparing a declaration with an existing table. */
const REPORTED: Record<Dialect, Record<FieldType, string[]>> = {
  sqlite: { string: ['text'], integer: ['integer'], number: ['real'], boolean: ['integer'], timestamp: ['text'], json: ['text'] },
  postgres: { string: ['text'], integer: ['bigint'], number: ['double precision'], boolean: ['boolean'], timestamp: ['text'], json: ['jsonb'] },
};

/**
 * Tables of the consumer store, which may share the database (the default `store:` is one SQLite file): a
 * resource must never create, migrate or serve them.
 */
const CONTROL_TABLES = new Set(['applications', 'changes', 'credentials', 'limit_counters', 'mapping_rules', 'metrics', 'plans', 'services', 'store_version', 'usage', 'users']);
const CONTROL_PREFIXES = ['kysely_', 'oauth', 'tollgate_'];

export function tableOf(name: string, config: ResourceConfig): string {
  return config.table ?? name;
}

export function uniqueIndexName(table: string, field: string): string {
  return `${table}_${field}_unique`;
}

async function existingColumns(rdb: ResourceDb, table: string): Promise<Map<string, string> | undefined> {
  const rows =
    rdb.dialect === 'sqlite'
      ? (await sql<{ name: string; type: string }>`select name, type from pragma_table_info(${table})`.execute(rdb.db)).rows
      : (
          await sql<{ name: string; type: string }>`select column_name as name, data_type as type from information_schema.columns where table_schema = current_schema() and table_name = ${table}`.execute(
            rdb.db,
          )
        ).rows;
  if (!rows.length) return undefined;
  return new Map(rows.map((r) => [r.name, r.type.toLowerCase()]));
}

export interface EnsureReport {
  created: boolean;
  addedColumns: string[];
}

/**
 * Creates the resource's table, or migrates it to the declaration: new fields become new (nullable)
 * columns and unique fields get their index. A column whose type differs from its declared type is an
 * error (changing a type may lose data: do it by hand). Removed fields keep their columns.
 */
export async function ensureTable(rdb: ResourceDb, name: string, config: ResourceConfig): Promise<EnsureReport> {
  const table = tableOf(name, config);
  if (CONTROL_TABLES.has(table) || CONTROL_PREFIXES.some((p) => table.startsWith(p))) {
    throw new Error(`resource ${name}: table ${table} belongs to the gateway's consumer store; set resources.${name}.table to another name`);
  }
  const types = COLUMN_TYPES[rdb.dialect];
  const columns = await existingColumns(rdb, table);
  const report: EnsureReport = { created: false, addedColumns: [] };
  if (!columns) {
    let create = rdb.db.schema.createTable(table).ifNotExists();
    for (const [field, f] of Object.entries(config.fields)) {
      create = create.addColumn(field, sql.raw(types[f.type]), (c) => (field === config.key ? c.primaryKey().notNull() : f.required ? c.notNull() : c));
    }
    await create.execute();
    report.created = true;
  } else {
    const problems: string[] = [];
    for (const [field, f] of Object.entries(config.fields)) {
      const have = columns.get(field);
      if (have === undefined) {
        if (field === config.key) problems.push(`key field ${field} has no column in table ${table}: a table's key cannot change`);
        else report.addedColumns.push(field);
      } else if (!REPORTED[rdb.dialect][f.type].includes(have)) {
        problems.push(`field ${field} is declared ${f.type} but column ${table}.${field} is ${have}`);
      }
    }
    if (problems.length) throw new Error(`resource ${name}: ${problems.join('; ')}`);
    for (const field of report.addedColumns) await rdb.db.schema.alterTable(table).addColumn(field, sql.raw(types[config.fields[field].type])).execute();
  }
  for (const [field, f] of Object.entries(config.fields)) {
    if (f.unique && field !== config.key) await rdb.db.schema.createIndex(uniqueIndexName(table, field)).ifNotExists().unique().on(table).column(field).execute();
  }
  return report;
}
