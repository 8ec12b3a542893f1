/**
 * Opening a store from its URL (config `store:`), and migrations. The only module that knows the drivers.
 *
 *   sqlite:./tollgate.db   sqlite:/var/lib/tollgate.db   sqlite::memory:
 *   postgres://user:pass@host:5432/db[?schema=name]      (postgresql:// too)
 */
// The drivers and Kysely load when a store is opened (a verb or config that has none never pays for them).
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import { SqlStore } from './sql/store.js';
import { StoreError } from './types.js';
import type { Store } from './types.js';

/** How long a SQLite writer waits for another process (CLI vs gateway) to release the file. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
const PG_POOL_MAX = 10;
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export type StoreLocation =
  | { dialect: 'sqlite'; filename: string }
  | { dialect: 'postgres'; connectionString: string; schema: string };

/**
 * Bounds for a store that goes away (Postgres only; SQLite is a local file). Without them a connection
 * attempt or a query on a dead connection can wait for minutes (the pool has no timeout by default).
 */
export interface StoreTimeouts {
  /** Give up opening a connection (or waiting for a free one) after this long. */
  connectMs: number;
  /** Give up a query after this long and drop its connection: a server that stopped answering will not answer it. 0: never. */
  queryMs: number;
}

export interface OpenStoreOptions {
  /** Run pending migrations on open (default true); they run without the timeouts. */
  migrate?: boolean;
  timeouts?: StoreTimeouts;
  /** Clock, for tests of expiry. */
  now?: () => Date;
}

/** The URL with any password replaced, for messages and logs. */
export function redactStoreUrl(url: string): string {
  if (!/^postgres(?:ql)?:/.test(url)) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable)';
  }
}

export function parseStoreUrl(url: string): StoreLocation {
  if (url.startsWith('sqlite:')) {
    let filename = url.slice('sqlite:'.length);
    if (filename.startsWith('//')) filename = filename.slice(2); // sqlite://./x.db, sqlite:///abs/x.db
    if (filename === '') throw new StoreError('INVALID', 'store URL sqlite: needs a file name, e.g. sqlite:./tollgate.db or sqlite::memory:');
    return { dialect: 'sqlite', filename };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new StoreError('INVALID', `store URL ${redactStoreUrl(url)} is not a valid URL.`);
    }
    const schema = u.searchParams.get('schema') ?? 'public';
    if (!SCHEMA_RE.test(schema)) throw new StoreError('INVALID', 'store URL schema= must be a lower-case SQL identifier.');
    u.searchParams.delete('schema');
    return { dialect: 'postgres', connectionString: u.toString(), schema };
  }
  throw new StoreError('INVALID', `store URL must start with sqlite: or postgres:// (got ${redactStoreUrl(url).slice(0, 40)}).`);
}

/** pg's query_timeout fails the query but leaves it running on the connection; end it so the pool drops it. */
function dropConnectionOnQueryTimeout(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const destroy = (err: unknown) => {
    if ((err as Error | undefined)?.message === 'Query read timeout') (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  };
  // Wrapped per client, not patched on pg's prototype; kysely calls query(sql, params) and awaits the Promise.
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const r = query(...args);
    if (r instanceof Promise) r.catch(destroy);
    return r;
  };
}

/**
 * A Postgres pool on `location`'s schema (created when missing), with `search_path` set at connection start.
 * With `timeouts`, connecting and queries are bounded and a timed-out query drops its connection. Shared by
 * the consumer store and the resource tables, which keep pools of their own.
 */
export async function openPgPool(location: Extract<StoreLocation, { dialect: 'postgres' }>, timeouts?: StoreTimeouts): Promise<pg.Pool> {
  const { connectionString, schema } = location;
  const { default: pg } = await import('pg');
  if (schema !== 'public') {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeouts?.connectMs });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query(`create schema if not exists "${schema}"`);
    } finally {
      await client.end();
    }
  }
  // search_path as a startup parameter: every pooled connection gets it before its first query.
  const pool = new pg.Pool({
    connectionString,
    options: `-c search_path="${schema}"`,
    max: PG_POOL_MAX,
    ...(timeouts ? { connectionTimeoutMillis: timeouts.connectMs, query_timeout: timeouts.queryMs || undefined, keepAlive: true } : {}),
  });
  // A connection that dies must not crash the process: the pool reports idle ones here; a checked-out one
  // emits on itself (its queries get the error, and the pool drops it on release, as it is not queryable).
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
    if (timeouts) dropConnectionOnQueryTimeout(client);
  });
  return pool;
}

async function connect(location: StoreLocation, timeouts?: StoreTimeouts): Promise<{ db: Kysely<Database>; migrationTableSchema?: string }> {
  const { Kysely, PostgresDialect, SqliteDialect } = await import('kysely');
  if (location.dialect === 'sqlite') {
    const { default: BetterSqlite3 } = await import('better-sqlite3');
    const sqlite = new BetterSqlite3(location.filename);
    // WAL: readers (the gateway) do not block the writer (the CLI) and vice versa.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }) };
  }
  const pool = await openPgPool(location, timeouts);
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), migrationTableSchema: location.schema };
}

async function runMigrations(db: Kysely<Database>, migrationTableSchema: string | undefined): Promise<string[]> {
  // Migrations are written against Kysely<any>: they describe past schemas.
  const { Migrator } = await import('kysely');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const migrator = new Migrator({ db: db as Kysely<any>, provider: migrationProvider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new Error('store migration failed', { cause: error });
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Opens (and by default migrates) the store at `url`. Close it with `store.close()`. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const location = parseStoreUrl(url);
  const timeouts = location.dialect === 'postgres' ? options.timeouts : undefined;
  // A migration may rightly take longer than a query timeout: run it on its own connection, without one.
  if (timeouts && options.migrate !== false) await migrateAt(location, { connectMs: timeouts.connectMs, queryMs: 0 });
  const { db, migrationTableSchema } = await connect(location, timeouts);
  try {
    if (options.migrate !== false && !timeouts) await runMigrations(db, migrationTableSchema);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqlStore(db, { dialect: location.dialect, now: options.now });
}

/** Applies pending migrations (`tollgate migrate`); returns the names of those it applied. */
export function migrate(url: string): Promise<string[]> {
  return migrateAt(parseStoreUrl(url));
}

async function migrateAt(location: StoreLocation, timeouts?: StoreTimeouts): Promise<string[]> {
  const { db, migrationTableSchema } = await connect(location, timeouts);
  try {
    return await runMigrations(db, migrationTableSchema);
  } finally {
    await db.destroy();
  }
}
