/**
 * `tollgate load-data`'s work, apart from the command line: read a file, check every record against the
 * resource, then (only when all are valid) create or migrate the table and upsert them in one transaction.
 */
import { readFile } from 'node:fs/promises';
import { DataFileError, MAX_REPORTED_ERRORS, detectFormat, parseDataFile } from './data-file.js';
import type { DataFormat } from './data-file.js';
import { openResourceDb, ensureTable } from './db.js';
import type { EnsureReport } from './db.js';
import { checkRecord } from './fields.js';
import type { ResourceRecord } from './fields.js';
import type { ResourceConfig } from './schema.js';
import { LoadRowError, SqlResourceTable } from './sql-table.js';
import type { LoadCounts } from './sql-table.js';

interface RecordError {
  record: number;
  line: number;
  field?: string;
  message: string;
}

export interface LoadResult {
  resource: string;
  file: string;
  format: DataFormat;
  records: number;
  /** Set when every record was written (or found unchanged); absent when nothing was written. */
  counts?: LoadCounts;
  table?: EnsureReport;
  errorCount: number;
  /** The first errors, in file order. */
  errors: RecordError[];
}

export interface LoadOptions {
  resource: string;
  config: ResourceConfig;
  storeUrl: string;
  file: string;
  format?: DataFormat;
  onProgress?: (done: number, total: number) => void;
}

export async function loadData(o: LoadOptions): Promise<LoadResult> {
  const text = await readFile(o.file, 'utf8');
  const format = o.format ?? detectFormat(o.file, text);
  const result: LoadResult = { resource: o.resource, file: o.file, format, records: 0, errorCount: 0, errors: [] };
  const fail = (e: RecordError) => {
    result.errorCount++;
    if (result.errors.length < MAX_REPORTED_ERRORS) result.errors.push(e);
  };
  let raw;
  try {
    raw = parseDataFile(text, format);
  } catch (e) {
    if (!(e instanceof DataFileError)) throw e;
    fail({ record: 0, line: e.line ?? 0, message: e.message.replace(/^line \d+: /, '') });
    return result;
  }
  result.records = raw.length;
  const records: ResourceRecord[] = [];
  const seen = new Map<unknown, number>();
  for (const r of raw) {
    const checked = checkRecord(o.config, r.value, { mode: 'full', fromText: r.fromText });
    if ('errors' in checked) {
      for (const [field, message] of Object.entries(checked.errors)) fail({ record: r.index, line: r.line, ...(field ? { field } : {}), message });
      continue;
    }
    const key = checked.record[o.config.key];
    const first = seen.get(key);
    if (first !== undefined) {
      fail({ record: r.index, line: r.line, field: o.config.key, message: `duplicate key ${JSON.stringify(key)}: record ${first} has it too` });
      continue;
    }
    seen.set(key, r.index);
    records.push(checked.record);
  }
  if (result.errorCount) return result;

  const rdb = await openResourceDb(o.storeUrl);
  try {
    result.table = await ensureTable(rdb, o.resource, o.config);
    const table = new SqlResourceTable(o.resource, o.config, rdb);
    try {
      result.counts = await table.load(records, (done) => o.onProgress?.(done, records.length));
    } catch (e) {
      if (!(e instanceof LoadRowError)) throw e;
      const r = raw[e.index];
      fail({ record: r.index, line: r.line, message: e.message });
    }
  } finally {
    await rdb.close();
  }
  return result;
}
