/**
 * What the store verbs (services, plans, apps, keys, users, usage, migrate, sync) share: finding the store URL
 * (`--store URL`, else the config's `store:`), opening it, and printing a table on a terminal or JSON with
 * `--json`. Secrets are printed once, by the verb that created them, and never by list or show.
 * A store verb reads or writes only what it is asked: syncing the config's declarations is the gateway's job
 * (at start and reload) or `tollgate sync`'s, never a side effect of `apps list -c FILE`.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type * as Yaml from 'yaml';
import type * as Load from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import { adminOperations } from '../admin/client.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/index.js';
import { storeOperations } from '../store/operations.js';
import type { Operations } from '../store/operations.js';
import { DEFAULT_CONFIG, reportError } from './common.js';

export interface StoreOpts {
  config?: string;
  store?: string;
  json?: boolean;
  /** A running gateway's admin URL: the verb goes through its admin API instead of opening the store. */
  admin?: string;
  adminToken?: string;
}

const DEFAULT_STORE = 'sqlite:./tollgate.db';

// The YAML parser and the config schema load before a store verb runs (a preAction hook), not with --help.
let parseYaml: typeof Yaml.parse;
let loadConfigFile: typeof Load.loadConfigFile;
let parseConfig: typeof Load.parseConfig;

/** Loads what storeContext()/storeUrl() need; a preAction hook of the verbs that take the store options. */
export async function loadStoreDeps(): Promise<void> {
  const [yaml, load] = await Promise.all([import('yaml'), import('../config/load.js')]);
  parseYaml = yaml.parse;
  ({ loadConfigFile, parseConfig } = load);
}

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .hook('preAction', loadStoreDeps)
    .option('-c, --config <file>', 'config file whose `store:` to use', DEFAULT_CONFIG)
    .option('--store <url>', 'store URL (beats the config): sqlite:./tollgate.db or postgres://…')
    .option('--json', 'print JSON instead of a table');
}

/**
 * `--admin URL` (else env TOLLGATE_ADMIN_URL) and `--admin-token` (else env TOLLGATE_ADMIN_TOKEN): the verb
 * then works through the running gateway's admin API.
 */
function addAdminOptions(cmd: Command): Command {
  return cmd
    .option('--admin <url>', "go through a running gateway's admin API (default: $TOLLGATE_ADMIN_URL) instead of opening the store")
    .option('--admin-token <token>', 'admin token for --admin (default: $TOLLGATE_ADMIN_TOKEN; prefer the variable: arguments show in ps)');
}

/** The store options plus --admin: for the verbs that exist in the admin API. */
export function addOpsOptions(cmd: Command): Command {
  return addAdminOptions(addStoreOptions(cmd));
}

/** The admin URL and token from flags or environment; undefined URL: open the store. */
export function adminTarget(opts: { admin?: string; adminToken?: string }): { url: string; token: string | undefined } | undefined {
  const url = opts.admin ?? process.env.TOLLGATE_ADMIN_URL;
  if (!url) return undefined;
  return { url, token: opts.adminToken ?? (process.env.TOLLGATE_ADMIN_TOKEN || undefined) };
}

/**
 * Runs `fn` on the operations: through the admin API given `--admin URL` (or TOLLGATE_ADMIN_URL), else on
 * the store opened from --store or the config. Errors are printed and set the exit code.
 */
export async function withOps(opts: StoreOpts, fn: (ops: Operations) => Promise<void>): Promise<void> {
  let ops: Operations | undefined;
  try {
    const admin = adminTarget(opts);
    ops = admin ? adminOperations(admin.url, admin.token) : storeOperations(await openStore(storeUrl(opts)), true);
    await fn(ops);
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    await ops?.close();
  }
}

const CONSUMER_KEYS = ['store', 'services', 'plans', 'applications', 'users'] as const;

/**
 * The store URL (--store, else the config's `store:`, else the default) and, when read from a config, that
 * config (for `tollgate sync`). Only the consumer sections need their environment: routes may reference
 * variables this shell has not set (UPSTREAM_URL…).
 */
export function storeContext(opts: StoreOpts): { url: string; loaded?: LoadedConfig } {
  if (opts.store) return { url: opts.store };
  const file = opts.config ?? DEFAULT_CONFIG;
  if (!existsSync(file)) {
    if (opts.config && opts.config !== DEFAULT_CONFIG) throw new Error(`config file ${file} not found (or pass --store URL)`);
    return { url: DEFAULT_STORE };
  }
  try {
    const loaded = loadConfigFile(file);
    return { url: loaded.config.store, loaded };
  } catch {
    const doc = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    const part = Object.fromEntries(CONSUMER_KEYS.filter((k) => doc[k] !== undefined).map((k) => [k, doc[k]]));
    try {
      const loaded = parseConfig(JSON.stringify(part), file);
      return { url: loaded.config.store, loaded };
    } catch {
      const raw = typeof doc.store === 'string' ? doc.store : DEFAULT_STORE;
      return { url: parseConfig(JSON.stringify({ store: raw }), file).config.store };
    }
  }
}

export function storeUrl(opts: StoreOpts): string {
  return storeContext(opts).url;
}

/** Opens the store, runs `fn`, closes it; errors are printed and set the exit code. */
export async function withStore(opts: StoreOpts, fn: (store: Store) => Promise<void>): Promise<void> {
  let store: Store | undefined;
  try {
    store = await openStore(storeUrl(opts));
    await fn(store);
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    await store?.close();
  }
}

type Cell = string | number | boolean | null | undefined | Date;

function cell(v: Cell): string {
  if (v === null || v === undefined) return '-';
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return String(v);
}

/** Rows as an aligned table, or as JSON (`data`, default the rows) with --json. */
export function print(opts: StoreOpts, rows: Record<string, Cell>[], data: unknown = rows): void {
  if (opts.json) {
    process.stdout.write(JSON.stringify(data, null, 2) + '\n');
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i])).join('  ').trimEnd();
  const out = [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))];
  process.stdout.write(out.join('\n') + '\n');
}

/** Key/value lines for one object (show). */
export function printOne(opts: StoreOpts, obj: Record<string, Cell>, data: unknown = obj): void {
  if (opts.json) {
    process.stdout.write(JSON.stringify(data, null, 2) + '\n');
    return;
  }
  const w = Math.max(...Object.keys(obj).map((k) => k.length));
  process.stdout.write(Object.entries(obj).map(([k, v]) => `${k.padEnd(w)}  ${cell(v)}`).join('\n') + '\n');
}

/** Prints a secret once, with the warning that it will not be shown again. */
export function printSecret(opts: StoreOpts, label: string, secret: string, data: Record<string, unknown>): void {
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ...data, secret }, null, 2) + '\n');
    return;
  }
  printOne(opts, data as Record<string, Cell>);
  process.stdout.write(`\n${label}: ${secret}\n(shown once: store it now; only its hash is kept)\n`);
}
