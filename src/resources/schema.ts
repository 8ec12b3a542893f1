/**
 * Config of data resources: `resources:` (what a dataset looks like and where it lives) and a route's
 * `resource:` block (which part of it the route serves). Tables live in the store of `store:` (SQLite by
 * default, Postgres), through src/resources/, never through the consumer store's internals.
 */
import { z } from 'zod';
import { duration } from '../lib/units.js';

const FIELD_TYPES = ['string', 'integer', 'number', 'boolean', 'timestamp', 'json'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** SQL identifiers used unquoted in messages and quoted in SQL: lower-case, portable between SQLite and Postgres. */
export const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const identifier = (what: string) => z.string().regex(IDENTIFIER, `expected a lower-case SQL identifier (${what})`);

const fieldSchema = z
  .strictObject({
    type: z.enum(FIELD_TYPES).describe('string, integer, number, boolean, timestamp (ISO 8601, answered as YYYY-MM-DDTHH:MM:SSZ) or json (any JSON value, stored as is).'),
    required: z.boolean().default(false).describe('The field must be present and not null (NOT NULL in the table).'),
    unique: z.boolean().default(false).describe('No two records share a value (a unique index); a write that breaks it gets 409.'),
    min: z.number().optional().describe('Smallest value (integer, number), shortest length (string) or earliest epoch second (timestamp).'),
    max: z.number().optional().describe('Largest value (integer, number), longest length (string) or latest epoch second (timestamp).'),
  })
  .describe('A field of a resource: its type and constraints.');

export const resourceSchema = z
  .strictObject({
    table: identifier('table name').optional().describe('Table in the store. Default: the resource name.'),
    key: identifier('key field').default('id').describe('The key field (must be one of `fields`, of type integer or string). Created records get the next integer, or a UUID for string keys.'),
    fields: z
      .record(identifier('field name'), fieldSchema)
      .refine((f) => Object.keys(f).length > 0, { message: 'expected at least one field' })
      .describe('Fields by name. The table is created from them (by `tollgate load-data` or at start); fields added later become new columns; removed fields keep their column, unused.'),
    pageSize: z.number().int().min(1).default(10).describe('Records per list page when the request has no `page_size`.'),
    maxPageSize: z.number().int().min(1).default(100).describe('Largest `page_size` a request may ask for.'),
  })
  .refine((r) => r.fields[r.key] !== undefined, { message: 'key: expected the name of one of the fields', path: ['key'] })
  .refine((r) => ['integer', 'string'].includes(r.fields[r.key]?.type ?? 'integer'), { message: 'key: the key field must be of type integer or string', path: ['key'] })
  .refine((r) => r.pageSize <= r.maxPageSize, { message: 'pageSize: must not exceed maxPageSize', path: ['pageSize'] })
  .describe('A dataset served as a REST API from a table in the store.');

const RESOURCE_SERVES = ['list', 'item', 'create', 'update'] as const;
export type ResourceServe = (typeof RESOURCE_SERVES)[number];

export const resourceRouteSchema = z
  .strictObject({
    name: z.string().min(1).describe('The resource (a name under `resources:`).'),
    serve: z
      .enum(RESOURCE_SERVES)
      .optional()
      .describe('list: GET pages of records, POST creates one. item: GET, PUT, PATCH, DELETE one record (the key from the :param). create: POST creates one from the path\'s :params (named after fields) and the JSON body. update: POST updates fields of one record from the path\'s :params and the body. Default: item when the pattern has the key :param, else list.'),
    param: z.string().optional().describe('The :param of the match pattern holding the key. Default: the key field\'s name, else `id`.'),
    field: z.string().optional().describe('item routes: answer only this field of the record (a dotted path into json fields, e.g. chart_data or chart_data.time), read-only.'),
  })
  .describe('Serve a resource from the store instead of forwarding to an upstream (see Resources).');

export const replicasSchema = z
  .strictObject({
    urls: z.array(z.string().regex(/^(postgres(ql)?|sqlite):/, 'expected a store URL (postgres://… or sqlite:…)')).default([]).describe('Store URLs of read replicas (followers) of `store:`. Resource routes read lists and records from them, in turn; writes, and the reads a write makes (If-Match, its answer), go to `store:`.'),
    leaderAfterWrite: duration('After this instance wrote to a resource, its reads of that resource go to `store:` for this long, so a client reading its own write does not see a replica that has not caught up (set it above the replication lag). Other instances read replicas as usual: a read there within the lag may see the previous version.').prefault('5s'),
  })
  .describe('Read replicas for resource tables (see Data resources). None by default: everything reads `store:`.');

export type FieldConfig = z.output<typeof fieldSchema>;
export type ResourceConfig = z.output<typeof resourceSchema>;
