import type { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { GatewayError } from '../../errors.js';
import { definePolicy } from '../types.js';
import type { Exchange, Reply } from '../types.js';
import { FORM, bufferRequestBody, isJsonType, mediaType } from '../shared/body.js';
import { pairsToObject, parsePairs } from '../shared/query.js';
import { checkNotInFuture } from './rules.js';
import { validateInfo } from './schema.js';
import type { ValidateOptions } from './schema.js';

type Params = Record<string, unknown>;
type ErrorOption = ValidateOptions['onError'];

interface Failure {
  missing: boolean;
  message: string;
}

function withObjectType(schema: Record<string, unknown>): Record<string, unknown> {
  return schema.type === undefined && schema.$ref === undefined ? { type: 'object', ...schema } : schema;
}

function compile(ajv: Ajv, schema: Record<string, unknown>, where: string): ValidateFunction {
  try {
    return ajv.compile(withObjectType(schema));
  } catch (e) {
    throw new Error(`validate: the ${where} schema is not valid JSON Schema: ${(e as Error).message}`);
  }
}

function describe(err: ErrorObject, where: string): Failure {
  if (err.keyword === 'required') {
    return { missing: true, message: `Missing ${where} parameter ${JSON.stringify((err.params as { missingProperty: string }).missingProperty)}.` };
  }
  const name = err.instancePath.slice(1).replace(/\//g, '.');
  return { missing: false, message: name ? `Invalid ${where} parameter ${JSON.stringify(name)}: ${err.message ?? 'invalid'}.` : `Invalid ${where}: ${err.message ?? 'invalid'}.` };
}

/** A configured JSON answer is built once; the default is a catalogue error carrying the specific message. */
function errorAnswer(opt: ErrorOption): ((f: Failure) => Reply | GatewayError) {
  if (opt?.json !== undefined) {
    const body = Buffer.from(JSON.stringify(opt.json));
    const status = opt.status;
    const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length), 'cache-control': 'no-store' };
    return () => ({ status, headers: { ...headers }, body });
  }
  const status = opt?.status ?? 400;
  return (f) => new GatewayError('TG_VALIDATION_FAILED', f.message, { status });
}

export const validatePolicy = definePolicy({
  ...validateInfo,
  async create(o, deps) {
    // ajv loads only when a route validates (it is large).
    const { Ajv } = await import('ajv');
    // ajv's strict-mode warnings (e.g. a `minimum` without `type`) go to our log, not the console.
    const logger = { log: () => undefined, warn: (...a: unknown[]) => deps.log.warn(`validate: ${a.join(' ')}`), error: (...a: unknown[]) => deps.log.error(`validate: ${a.join(' ')}`) };
    // Query strings and forms are text: coerce to the schema's types. JSON bodies keep their own types.
    const coercing = new Ajv({ coerceTypes: true, allErrors: false, logger });
    const exact = new Ajv({ coerceTypes: false, allErrors: false, logger });
    const query = o.query ? compile(coercing, o.query, 'query') : undefined;
    const formBody = o.body ? compile(coercing, o.body, 'body') : undefined;
    const jsonBody = o.body ? compile(exact, o.body, 'body') : undefined;
    const rules = o.rules.map((r) => r.notInFuture);
    const queryRules = rules.filter((r) => r.in === 'query');
    const bodyRules = rules.filter((r) => r.in === 'body');
    const invalid = errorAnswer(o.onError);
    const missing = o.onMissing ? errorAnswer(o.onMissing) : invalid;
    const needsQuery = query !== undefined || queryRules.length > 0;
    const needsBody = o.body !== undefined || bodyRules.length > 0;
    const maxBody = o.maxBodySize;

    const answer = (f: Failure): Reply => {
      const a = (f.missing ? missing : invalid)(f);
      if (a instanceof GatewayError) throw a;
      return a;
    };

    function checkRules(list: typeof rules, params: Params): Failure | undefined {
      for (const r of list) {
        const message = checkNotInFuture(r, params);
        if (message) return { missing: false, message: `Invalid parameters: ${message}.` };
      }
      return undefined;
    }

    function checkQuery(ex: Exchange): Failure | undefined {
      const params: Params = pairsToObject(parsePairs(ex.query));
      if (query && !query(params)) return describe(query.errors![0], 'query');
      return checkRules(queryRules, params);
    }

    async function checkBody(ex: Exchange): Promise<Failure | undefined> {
      const type = mediaType(ex.headers['content-type']);
      const buf = await bufferRequestBody(ex, maxBody);
      let params: unknown;
      let fn: ValidateFunction | undefined;
      if (buf.length === 0) {
        params = {};
        fn = formBody;
      } else if (type === FORM) {
        params = pairsToObject(parsePairs(buf.toString('utf8')));
        fn = formBody;
      } else if (isJsonType(type)) {
        try {
          params = JSON.parse(buf.toString('utf8'));
        } catch {
          return { missing: false, message: 'The request body is not valid JSON.' };
        }
        fn = jsonBody;
      } else {
        return { missing: false, message: 'The request body must be JSON or application/x-www-form-urlencoded.' };
      }
      if (fn && !fn(params)) return describe(fn.errors![0], 'body');
      return params && typeof params === 'object' ? checkRules(bodyRules, params as Params) : undefined;
    }

    return {
      onRequest(ex) {
        if (needsQuery) {
          const f = checkQuery(ex);
          if (f) return answer(f);
        }
        if (!needsBody) return;
        return checkBody(ex).then((f) => (f ? answer(f) : undefined));
      },
    };
  },
});
