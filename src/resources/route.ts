/**
 * The hooks of a resource route: the last entry of the route's chain, answering every request with a Reply
 * from the resource's table (no upstream). Policies before it (auth, rate-limit, cache) run as on any route;
 * the cache sees these replies like upstream responses (stores GETs, invalidates on successful writes).
 *
 * HTTP semantics: RFC 9110 §9.3 (methods), §13 (conditional requests: If-Match → 412, If-None-Match → 304),
 * §15.3.2 (201 + Location), §15.5.6 (405 + Allow, answered by the router). Pages follow seed 001's
 * convention (Django REST framework's): `page`, `page_size` → {count, next, previous, results}.
 */
import { createHash } from 'node:crypto';
import { ERRORS, GatewayError, errorBody } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { readAll } from '../lib/body.js';
import { isJsonType, mediaType } from '../policies/shared/body.js';
import type { Exchange, Headers, PolicyHooks, Reply } from '../policies/types.js';
import { checkRecord, keyFromText } from './fields.js';
import type { FieldErrors, ResourceRecord } from './fields.js';
import type { ResourceServe } from './schema.js';
import { ResourceConflict, isDatabaseUnavailable } from './types.js';
import type { Key, ListQuery, ResourceTable } from './types.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const RESERVED_QUERY = new Set(['page', 'page_size', 'ordering']);

export interface ResourceRouteOptions {
  serve: ResourceServe;
  /** The table, looked up per request: undefined only when compiled without a store (`tollgate check`). */
  table: () => ResourceTable | undefined;
  /** Pattern :param holding the key (item, update). */
  param: string;
  /** item routes: the nested path answered instead of the record (['chart_data']), read-only. */
  field: string[] | undefined;
  /** Methods answered on this path, for OPTIONS (the router answers 405 with the same list). */
  allow: string[];
  /** Path of one record, for Location (from the resource's item route); undefined when there is none. */
  itemPath: ((key: Key) => string) | undefined;
  /** The configured publicUrl, '' when unset (absolute URLs then use the request's Host). */
  publicUrl: string;
  maxBodySize: number;
}

/** Strong validator of a representation (RFC 9110 §8.8.3): a hash of the exact bytes sent. */
function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** RFC 9110 §13.1.1/§13.1.2: does any entity-tag in the header match (weak comparison for If-None-Match)? */
function matches(header: string | string[] | undefined, etag: string | undefined, weak: boolean): boolean {
  if (header === undefined) return false;
  const list = (Array.isArray(header) ? header.join(',') : header).split(',').map((s) => s.trim());
  if (list.includes('*')) return etag !== undefined;
  if (etag === undefined) return false;
  return list.some((t) => (weak ? t.replace(/^W\//, '') === etag : t === etag));
}

function reply(status: number, body: string | null, headers: Headers = {}): Reply {
  const h: Headers = { ...headers };
  if (body !== null) {
    h['content-type'] = JSON_TYPE;
    h['content-length'] = String(Buffer.byteLength(body));
  } else if (status !== 204 && status !== 304) h['content-length'] = '0';
  return { status, headers: h, body };
}

function errorReply(ex: Exchange, code: ErrorCode, message?: string, fields?: FieldErrors, headers?: Headers): Reply {
  const text = message ?? ERRORS[code].message;
  const body = fields ? JSON.stringify({ error: text, code, requestId: ex.requestId, fields }) : errorBody(code, text, ex.requestId);
  return reply(ERRORS[code].status, body, headers);
}

function invalid(ex: Exchange, fields: FieldErrors): Reply {
  const first = Object.entries(fields)[0];
  return errorReply(ex, 'TG_RESOURCE_INVALID', `Invalid record: ${first[0] ? `${first[0]}: ` : ''}${first[1]}${Object.keys(fields).length > 1 ? ' (and more, see fields)' : ''}`, fields);
}

/** Scheme and host absolute URLs start with: publicUrl, else the request's own Host. */
function origin(ex: Exchange, publicUrl: string): string {
  if (publicUrl) return publicUrl;
  return `http://${ex.client.headers.host ?? '127.0.0.1'}`;
}

function pathOf(ex: Exchange): string {
  return ex.client.path;
}

async function readJson(ex: Exchange, max: number): Promise<{ value: unknown } | { reply: Reply }> {
  const b = ex.body;
  const raw = b === null ? Buffer.alloc(0) : typeof b === 'string' ? Buffer.from(b) : Buffer.isBuffer(b) ? b : await readAll(b, max);
  if (raw.length === 0) return { value: undefined };
  const type = mediaType(ex.headers['content-type']);
  if (type !== '' && !isJsonType(type)) return { reply: errorReply(ex, 'TG_RESOURCE_MEDIA_TYPE', `Expected a JSON body (Content-Type: application/json), got ${type}.`) };
  try {
    return { value: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    return { reply: errorReply(ex, 'TG_RESOURCE_INVALID', 'The body is not valid JSON.', { '': 'expected a JSON object' }) };
  }
}

/** Values of the path's :params named after fields (alias routes such as /sprocket/create/:teeth/...). */
function paramValues(ex: Exchange, table: ResourceTable, skip: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ex.params)) if (k !== skip && table.config.fields[k]) out[k] = v;
  return out;
}

export function createResourceRoute(o: ResourceRouteOptions): PolicyHooks {
  const allowHeader = o.allow.join(', ');

  function listQuery(ex: Exchange, table: ResourceTable): { query: ListQuery; page: number; size: number } | { reply: Reply } {
    const params = new URLSearchParams(ex.query);
    const cfg = table.config;
    const errors: FieldErrors = {};
    const int = (name: string, def: number, max: number): number => {
      const v = params.get(name);
      if (v === null || v === '') return def;
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || n < 1 || n > max) errors[name] = `expected an integer from 1 to ${max}`;
      return n;
    };
    const page = int('page', 1, Number.MAX_SAFE_INTEGER);
    const size = int('page_size', cfg.pageSize, cfg.maxPageSize);
    const ordering: ListQuery['ordering'] = [];
    for (const part of (params.get('ordering') ?? '').split(',')) {
      if (!part) continue;
      const desc = part.startsWith('-');
      const field = desc ? part.slice(1) : part;
      if (!cfg.fields[field] || cfg.fields[field].type === 'json') errors.ordering = `unknown field ${JSON.stringify(field)}: expected one of ${Object.keys(cfg.fields).filter((f) => cfg.fields[f].type !== 'json').join(', ')}`;
      else ordering.push({ field, desc });
    }
    // Filters: declared scalar fields; other parameters (cache busters, credentials) are ignored.
    const raw: Record<string, string> = {};
    for (const [name, v] of params) if (!RESERVED_QUERY.has(name) && cfg.fields[name] && cfg.fields[name].type !== 'json') raw[name] = v;
    const checked = checkRecord(cfg, raw, { mode: 'partial', fromText: true });
    if ('errors' in checked) Object.assign(errors, checked.errors);
    if (Object.keys(errors).length) return { reply: invalid(ex, errors) };
    const filters = 'record' in checked ? checked.record : {};
    return { query: { filters, ordering, offset: (page - 1) * size, limit: size }, page, size };
  }

  function pageUrl(ex: Exchange, page: number): string {
    const params = new URLSearchParams(ex.query);
    if (page === 1) params.delete('page');
    else params.set('page', String(page));
    const qs = params.toString();
    return origin(ex, o.publicUrl) + pathOf(ex) + (qs ? `?${qs}` : '');
  }

  /** A representation with its validator; 304 when If-None-Match already has it. HEAD gets the head only. */
  function represent(ex: Exchange, status: number, value: unknown, extra: Headers = {}): Reply {
    const body = JSON.stringify(value);
    const etag = etagOf(body);
    if ((ex.method === 'GET' || ex.method === 'HEAD') && matches(ex.client.headers['if-none-match'], etag, true)) return reply(304, null, { etag });
    const r = reply(status, body, { ...extra, etag });
    if (ex.method === 'HEAD') r.body = null;
    return r;
  }

  async function list(ex: Exchange, table: ResourceTable): Promise<Reply> {
    const q = listQuery(ex, table);
    if ('reply' in q) return q.reply;
    const { count, records } = await table.list(q.query);
    const last = Math.max(1, Math.ceil(count / q.size));
    if (q.page > last) return errorReply(ex, 'TG_RESOURCE_NOT_FOUND', `Invalid page: there ${last === 1 ? 'is 1 page' : `are ${last} pages`}.`);
    return represent(ex, 200, {
      count,
      next: q.page < last ? pageUrl(ex, q.page + 1) : null,
      previous: q.page > 1 ? pageUrl(ex, q.page - 1) : null,
      results: records,
    });
  }

  async function create(ex: Exchange, table: ResourceTable, fromParams: Record<string, string>): Promise<Reply> {
    const body = await readJson(ex, o.maxBodySize);
    if ('reply' in body) return body.reply;
    if (body.value !== undefined && (body.value === null || typeof body.value !== 'object' || Array.isArray(body.value))) return invalid(ex, { '': 'expected a JSON object' });
    const fromPath = checkRecord(table.config, fromParams, { mode: 'partial', fromText: true });
    const fromBody = checkRecord(table.config, body.value ?? {}, { mode: 'partial', fromText: 'scalars' });
    const errors = { ...('errors' in fromBody ? fromBody.errors : {}), ...('errors' in fromPath ? fromPath.errors : {}) };
    if (Object.keys(errors).length) return invalid(ex, errors);
    const merged = { ...(fromBody as { record: ResourceRecord }).record, ...(fromPath as { record: ResourceRecord }).record };
    const checked = checkRecord(table.config, merged, { mode: 'full', keyOptional: true, fromText: 'scalars' });
    if ('errors' in checked) return invalid(ex, checked.errors);
    const record = await table.create(checked.record);
    const key = record[table.config.key] as Key;
    return represent(ex, 201, record, o.itemPath ? { location: origin(ex, o.publicUrl) + o.itemPath(key) } : {});
  }

  /** PUT (replace), PATCH and the POST update alias (merge): read, check If-Match, write, in one transaction. */
  async function write(ex: Exchange, table: ResourceTable, key: Key, kind: 'replace' | 'merge', fromParams: Record<string, string>): Promise<Reply> {
    const body = await readJson(ex, o.maxBodySize);
    if ('reply' in body) return body.reply;
    const value = body.value ?? {};
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalid(ex, { '': 'expected a JSON object' });
    const incoming = checkRecord(table.config, value, { mode: kind === 'replace' ? 'full' : 'partial', keyOptional: true, fromText: 'scalars' });
    const fromPath = checkRecord(table.config, fromParams, { mode: 'partial', fromText: true });
    const errors = { ...('errors' in incoming ? incoming.errors : {}), ...('errors' in fromPath ? fromPath.errors : {}) };
    const change = { ...('record' in incoming ? incoming.record : {}), ...('record' in fromPath ? fromPath.record : {}) };
    if (change[table.config.key] !== undefined && change[table.config.key] !== key) errors[table.config.key] = 'must equal the key in the path (keys cannot change)';
    if (Object.keys(errors).length) return invalid(ex, errors);
    const ifMatch = ex.client.headers['if-match'];
    const { result, record } = await table.mutate<Reply | undefined>(key, (current) => {
      if (ifMatch !== undefined && !matches(ifMatch, current && etagOf(JSON.stringify(current)), false)) {
        return { stop: true, result: errorReply(ex, 'TG_PRECONDITION_FAILED') };
      }
      if (!current) return { stop: true, result: errorReply(ex, 'TG_RESOURCE_NOT_FOUND') };
      return { write: kind === 'replace' ? change : { ...current, ...change }, result: undefined };
    });
    if (result) return result;
    return represent(ex, 200, record);
  }

  async function remove(ex: Exchange, table: ResourceTable, key: Key): Promise<Reply> {
    const ifMatch = ex.client.headers['if-match'];
    const { result } = await table.mutate<Reply>(key, (current) => {
      if (ifMatch !== undefined && !matches(ifMatch, current && etagOf(JSON.stringify(current)), false)) return { stop: true, result: errorReply(ex, 'TG_PRECONDITION_FAILED') };
      if (!current) return { stop: true, result: errorReply(ex, 'TG_RESOURCE_NOT_FOUND') };
      return { delete: true, result: reply(204, null) };
    });
    return result;
  }

  async function item(ex: Exchange, table: ResourceTable, key: Key): Promise<Reply> {
    const record = await table.get(key);
    if (!record) return errorReply(ex, 'TG_RESOURCE_NOT_FOUND');
    if (!o.field) return represent(ex, 200, record);
    let v: unknown = record;
    for (const seg of o.field) {
      if (v === null || typeof v !== 'object' || !(seg in (v))) return errorReply(ex, 'TG_RESOURCE_NOT_FOUND', `This record has no ${o.field.join('.')}.`);
      v = (v as Record<string, unknown>)[seg];
    }
    return represent(ex, 200, v);
  }

  async function answer(ex: Exchange): Promise<Reply> {
    if (ex.method === 'OPTIONS') return reply(204, null, { allow: allowHeader });
    const table = o.table();
    if (!table) throw new GatewayError('TG_INTERNAL', 'This resource has no store.');
    const m = ex.method === 'HEAD' ? 'GET' : ex.method;
    if (o.serve === 'list') {
      if (m === 'GET') return list(ex, table);
      return create(ex, table, {});
    }
    if (o.serve === 'create') return create(ex, table, paramValues(ex, table, ''));
    const key = keyFromText(table.config, ex.params[o.param] ?? '');
    if (key === undefined) return errorReply(ex, 'TG_RESOURCE_NOT_FOUND');
    if (o.serve === 'update') return write(ex, table, key, 'merge', paramValues(ex, table, o.param));
    switch (m) {
      case 'GET':
        return item(ex, table, key);
      case 'PUT':
        return write(ex, table, key, 'replace', {});
      case 'PATCH':
        return write(ex, table, key, 'merge', {});
      default:
        return remove(ex, table, key);
    }
  }

  return {
    async onRequest(ex) {
      try {
        return await answer(ex);
      } catch (e) {
        if (e instanceof ResourceConflict) return errorReply(ex, 'TG_RESOURCE_CONFLICT', `Conflict: ${e.message}.`, e.field ? { [e.field]: 'another record already has this value' } : undefined);
        if (e instanceof GatewayError) return errorReply(ex, e.code, e.message);
        if (isDatabaseUnavailable(e)) {
          ex.log.warn({ requestId: ex.requestId, err: (e as Error).message }, 'resource store unavailable');
          return errorReply(ex, 'TG_STORE_UNAVAILABLE', 'The data store cannot be reached right now; try again shortly.');
        }
        throw e;
      }
    },
  };
}
