/**
 * `tollgate load-data RESOURCE FILE -c CONFIG`: fills a resource's table from a JSON array, NDJSON or CSV
 * file. All records or none: every record is checked first, then all are upserted by key in one transaction.
 */
import type { Command } from 'commander';
import type { LoadResult } from '../resources/load-data.js';
import { MAX_REPORTED_ERRORS } from '../resources/data-file.js';
import type { DataFormat } from '../resources/data-file.js';
import { redactStoreUrl } from '../store/index.js';
import { DEFAULT_CONFIG, EXIT_RUNTIME, reportError, usageError } from './common.js';

interface LoadDataOpts {
  config: string;
  store?: string;
  format?: DataFormat;
  json?: boolean;
}

const FORMATS: readonly DataFormat[] = ['json', 'ndjson', 'csv'];
const BAR_WIDTH = 30;

/** One redrawn terminal line: `sprockets [#########.....] 600/1000`, ended with a newline when done. */
function progressLine(resource: string, done: number, total: number): string {
  const filled = total ? Math.round((done / total) * BAR_WIDTH) : BAR_WIDTH;
  return `\r${resource} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${total}${done === total ? '\n' : ''}`;
}

function printResult(r: LoadResult, storeUrl: string): void {
  if (r.counts) {
    const c = r.counts;
    const table = r.table?.created ? ' (table created)' : r.table?.addedColumns.length ? ` (columns added: ${r.table.addedColumns.join(', ')})` : '';
    process.stdout.write(`${r.resource}: ${r.records} records from ${r.file} into ${redactStoreUrl(storeUrl)}${table}: ${c.inserted} inserted, ${c.updated} updated, ${c.unchanged} unchanged\n`);
    return;
  }
  process.stderr.write(`${r.resource}: nothing loaded: ${r.errorCount} error${r.errorCount === 1 ? '' : 's'} in ${r.file}${r.errorCount > MAX_REPORTED_ERRORS ? ` (first ${MAX_REPORTED_ERRORS})` : ''}:\n`);
  for (const e of r.errors) {
    const where = e.record ? `record ${e.record} (line ${e.line})` : `line ${e.line}`;
    process.stderr.write(`  ${where}: ${e.field ? `${e.field}: ` : ''}${e.message}\n`);
  }
}

export function registerLoadData(program: Command): void {
  program
    .command('load-data')
    .description("Load records from a JSON, NDJSON or CSV file into a resource's table (created or migrated as needed), upserting by key.")
    .argument('<resource>', 'resource name, as declared under `resources:`')
    .argument('<file>', 'data file: a JSON array, NDJSON (.ndjson/.jsonl) or CSV with a header row')
    .option('-c, --config <file>', 'config file declaring the resource', DEFAULT_CONFIG)
    .option('--store <url>', "store URL (beats the config's `store:`)")
    .option('--format <format>', 'json, ndjson or csv (default: from the file name and content)', (v) => (FORMATS.includes(v as DataFormat) ? (v as DataFormat) : usageError(`--format: expected json, ndjson or csv, got ${JSON.stringify(v)}`)))
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate load-data factories examples/data/factories.json -c examples/factories.yaml
  $ tollgate load-data sprockets sprockets.csv -c examples/factories.yaml --store postgres://localhost/api

Every record is checked against the resource's fields first; any error (the first ${MAX_REPORTED_ERRORS} are printed with
their record and line numbers) loads nothing. Valid files are upserted by key in one transaction: loading the
same file twice changes nothing. Works before any gateway has started; a running gateway sees the rows at once.`,
    )
    .action(async (resource: string, file: string, o: LoadDataOpts) => {
      try {
        // The config schema, Kysely and the SQL drivers load when this verb runs, not with every other verb.
        const [{ loadConfigFile }, { loadData }] = await Promise.all([import('../config/load.js'), import('../resources/load-data.js')]);
        const loaded = loadConfigFile(o.config);
        const config = loaded.config.resources[resource];
        if (!config) {
          const names = Object.keys(loaded.config.resources);
          throw new Error(`unknown resource ${JSON.stringify(resource)} in ${o.config}: expected one of ${names.join(', ') || '(no resources declared)'}`);
        }
        const storeUrl = o.store ?? loaded.config.store;
        const tty = process.stderr.isTTY && !o.json;
        const result = await loadData({
          resource,
          config,
          storeUrl,
          file,
          format: o.format,
          onProgress: tty ? (done, total) => process.stderr.write(progressLine(resource, done, total)) : undefined,
        });
        if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        else printResult(result, storeUrl);
        if (!result.counts) process.exitCode = EXIT_RUNTIME;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
