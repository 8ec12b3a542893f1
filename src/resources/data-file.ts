/**
 * Reading a data file for `tollgate load-data`: a JSON array, NDJSON (one object per line) or CSV (RFC 4180,
 * first row names the fields). Each record keeps its number and the line it starts on, for error messages.
 */
import { extname } from 'node:path';

/** How many record errors a failed load reports (the count of all of them is given too). */
export const MAX_REPORTED_ERRORS = 10;

export type DataFormat = 'json' | 'ndjson' | 'csv';

export interface RawRecord {
  /** 1-based position in the file. */
  index: number;
  /** 1-based line the record starts on. */
  line: number;
  value: unknown;
  /** CSV cells are text: they are read as their field's type. */
  fromText: boolean;
}

export class DataFileError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line ? `line ${line}: ${message}` : message);
    this.name = 'DataFileError';
  }
}

export function detectFormat(file: string, text: string): DataFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  if (ext === '.json') return text.trimStart().startsWith('[') ? 'json' : 'ndjson';
  return text.trimStart().startsWith('[') ? 'json' : text.trimStart().startsWith('{') ? 'ndjson' : 'csv';
}

export function parseDataFile(text: string, format: DataFormat): RawRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  switch (format) {
    case 'json':
      return parseJsonArray(text);
    case 'ndjson':
      return parseNdjson(text);
    case 'csv':
      return parseCsv(text);
  }
}

function lineAt(text: string, offset: number, from = { offset: 0, line: 1 }): number {
  let line = from.line;
  for (let i = from.offset; i < offset; i++) if (text.charCodeAt(i) === 10) line++;
  from.offset = offset;
  from.line = line;
  return line;
}

/** Start offsets of the top-level elements of a JSON array (the text is known to be valid JSON). */
function elementStarts(text: string): number[] {
  const starts: number[] = [];
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    if (depth === 1 && expectElement && c !== ']') {
      starts.push(i);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectElement = true;
  }
  return starts;
}

function parseJsonArray(text: string): RawRecord[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new DataFileError(`not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(data)) throw new DataFileError('expected a JSON array of records');
  const starts = elementStarts(text);
  const pos = { offset: 0, line: 1 };
  return (data as unknown[]).map((value, i) => ({ index: i + 1, line: lineAt(text, starts[i] ?? 0, pos), value, fromText: false }));
}

function parseNdjson(text: string): RawRecord[] {
  const out: RawRecord[] = [];
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (s === '') return;
    let value: unknown;
    try {
      value = JSON.parse(s);
    } catch (e) {
      throw new DataFileError(`not valid JSON: ${(e as Error).message}`, i + 1);
    }
    out.push({ index: out.length + 1, line: i + 1, value, fromText: false });
  });
  return out;
}

/** RFC 4180 rows with the line each starts on; quoted cells may hold commas, quotes ("") and newlines. */
function csvRows(text: string): { line: number; cells: string[] }[] {
  const rows: { line: number; cells: string[] }[] = [];
  let line = 1;
  let row: string[] = [];
  let rowLine = 1;
  let cell = '';
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(cell);
    if (!(row.length === 1 && row[0] === '')) rows.push({ line: rowLine, cells: row });
    row = [];
    cell = '';
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        cell += c;
      }
      i++;
      continue;
    }
    if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else cell += c;
    i++;
  }
  if (quoted) throw new DataFileError('unterminated quoted cell', rowLine);
  if (cell !== '' || row.length) endRow();
  return rows;
}

function parseCsv(text: string): RawRecord[] {
  const rows = csvRows(text);
  if (!rows.length) return [];
  const header = rows[0].cells.map((h) => h.trim());
  return rows.slice(1).map((r, i) => {
    if (r.cells.length !== header.length) throw new DataFileError(`expected ${header.length} cells as in the header, got ${r.cells.length}`, r.line);
    const value: Record<string, unknown> = {};
    // An empty cell is an absent value (CSV cannot tell "" from nothing).
    header.forEach((h, j) => {
      if (r.cells[j] !== '') value[h] = r.cells[j];
    });
    return { index: i + 1, line: r.line, value, fromText: true };
  });
}
