/**
 * Checking records against a resource's declared fields, and the conversions between a record (JSON) and a
 * table row. One place for both, so `load-data` and the routes accept and answer exactly the same values.
 */
import type { FieldConfig, FieldType, ResourceConfig } from './schema.js';

/** A record as clients send and get it. */
export type ResourceRecord = Record<string, unknown>;
/** Column values as the SQL driver takes them. */
export type Row = Record<string, string | number | boolean | null>;

export type Dialect = 'sqlite' | 'postgres';

/** Field name → what is wrong with it; '' for the record as a whole. */
export type FieldErrors = Record<string, string>;

export interface CheckOptions {
  /** create/replace: every required field must be there. patch: only the given fields are checked. */
  mode: 'full' | 'partial';
  /**
   * Strings are read as the field's type ("5" for an integer): CSV cells and path parameters (true). Request
   * bodies ('scalars'): numbers and booleans may come as strings, as every form and XML body (converted to
   * JSON by `negotiate`) sends them, and as Django REST framework accepts them; a json field keeps a string.
   */
  fromText?: boolean | 'scalars';
  /** Whether the record may leave out the key (the store assigns one). */
  keyOptional?: boolean;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Timestamps go out as seed 001 writes them: YYYY-MM-DDTHH:MM:SSZ (UTC, whole seconds). */
function formatTimestamp(d: Date): string {
  return d.toISOString().slice(0, 19) + 'Z';
}

function parseTimestamp(v: unknown): Date | undefined {
  if (typeof v === 'string' && ISO_8601.test(v)) {
    // A date-time without an offset is read as UTC (ISO 8601 leaves it local; a server has no useful local time).
    const s = /[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/.test(v) ? v.replace(' ', 'T') + 'Z' : v.replace(' ', 'T');
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

function expectation(type: FieldType): string {
  switch (type) {
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'timestamp':
      return 'an ISO 8601 timestamp like 2021-01-21T04:53:38Z';
    case 'json':
      return 'a JSON value';
  }
}

/** The value in the field's type, or an error message. `null` stays null (checked against `required` by the caller). */
function convert(field: FieldConfig, v: unknown, textMode: CheckOptions['fromText']): { value: unknown } | { error: string } {
  if (v === null) return { value: null };
  const fromText = textMode === true || textMode === 'scalars';
  const bad = { error: `expected ${expectation(field.type)}, got ${JSON.stringify(v)?.slice(0, 60) ?? typeof v}` };
  switch (field.type) {
    case 'string':
      if (typeof v === 'string') return { value: v };
      return bad;
    case 'integer': {
      const n = typeof v === 'string' && fromText && /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : v;
      return typeof n === 'number' && Number.isSafeInteger(n) ? { value: n } : bad;
    }
    case 'number': {
      const n = typeof v === 'string' && fromText && v.trim() !== '' ? Number(v) : v;
      return typeof n === 'number' && Number.isFinite(n) ? { value: n } : bad;
    }
    case 'boolean': {
      if (typeof v === 'boolean') return { value: v };
      if (fromText && typeof v === 'string' && /^(true|false|1|0)$/i.test(v.trim())) return { value: /^(true|1)$/i.test(v.trim()) };
      return bad;
    }
    case 'timestamp': {
      const d = parseTimestamp(v);
      return d ? { value: formatTimestamp(d) } : bad;
    }
    case 'json':
      if (textMode === true && typeof v === 'string') {
        try {
          return { value: JSON.parse(v) as unknown };
        } catch {
          return { error: 'expected JSON text' };
        }
      }
      return { value: v };
  }
}

function rangeError(field: FieldConfig, value: unknown): string | undefined {
  let n: number | undefined;
  let what = 'value';
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && field.type === 'string') {
    n = [...value].length;
    what = 'length';
  } else if (typeof value === 'string' && field.type === 'timestamp') n = Date.parse(value) / 1000;
  if (n === undefined) return undefined;
  if (field.min !== undefined && n < field.min) return `${what} must be at least ${field.min}`;
  if (field.max !== undefined && n > field.max) return `${what} must be at most ${field.max}`;
  return undefined;
}

/**
 * Checks a record: every field known, of its type, within its range, required ones present (mode full).
 * Returns the record with values in their canonical form, or per-field messages.
 */
export function checkRecord(resource: ResourceConfig, input: unknown, opts: CheckOptions): { record: ResourceRecord } | { errors: FieldErrors } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { errors: { '': 'expected a JSON object' } };
  const errors: FieldErrors = {};
  const record: ResourceRecord = {};
  for (const [name, v] of Object.entries(input as Record<string, unknown>)) {
    const field = resource.fields[name];
    if (!field) {
      errors[name] = `unknown field: expected one of ${Object.keys(resource.fields).join(', ')}`;
      continue;
    }
    if (v === undefined) continue;
    const c = convert(field, v, opts.fromText);
    if ('error' in c) {
      errors[name] = c.error;
      continue;
    }
    if (c.value === null && (field.required || name === resource.key)) {
      errors[name] = 'required: must not be null';
      continue;
    }
    const range = rangeError(field, c.value);
    if (range) errors[name] = range;
    else record[name] = c.value;
  }
  if (opts.mode === 'full') {
    for (const [name, field] of Object.entries(resource.fields)) {
      if (name in record || name in errors) continue;
      if (name === resource.key ? !opts.keyOptional : field.required) errors[name] = 'required';
    }
  }
  return Object.keys(errors).length ? { errors } : { record };
}

/** Record → row: the column values for the fields the record has. */
export function toRow(resource: ResourceConfig, record: ResourceRecord, dialect: Dialect): Row {
  const row: Row = {};
  for (const [name, v] of Object.entries(record)) {
    const field = resource.fields[name];
    if (!field) continue;
    if (v === null || v === undefined) row[name] = null;
    else if (field.type === 'json') row[name] = JSON.stringify(v);
    else if (field.type === 'boolean' && dialect === 'sqlite') row[name] = v ? 1 : 0;
    else row[name] = v as string | number | boolean;
  }
  return row;
}

/** Row → record, every declared field in declaration order (absent columns as null). */
export function fromRow(resource: ResourceConfig, row: Record<string, unknown>): ResourceRecord {
  const out: ResourceRecord = {};
  for (const [name, field] of Object.entries(resource.fields)) {
    const v = row[name];
    if (v === null || v === undefined) {
      out[name] = null;
      continue;
    }
    switch (field.type) {
      case 'integer':
      case 'number':
        // Postgres bigint comes back as a string (it may exceed 2^53; ours are checked safe integers).
        out[name] = typeof v === 'string' ? Number(v) : v;
        break;
      case 'boolean':
        out[name] = v === true || v === 1 || v === '1';
        break;
      case 'json':
        out[name] = typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
        break;
      default:
        out[name] = v;
    }
  }
  return out;
}

/** The key in the field's type, from a path parameter or a query value; undefined when it cannot be one. */
export function keyFromText(resource: ResourceConfig, text: string): string | number | undefined {
  const type = resource.fields[resource.key].type;
  if (type === 'string') return text;
  return /^[+-]?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;
}
