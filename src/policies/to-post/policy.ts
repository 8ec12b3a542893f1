import { definePolicy } from '../types.js';
import { FORM } from '../shared/body.js';
import { pairsToObject, parsePairs } from '../shared/query.js';
import { toPostSchema } from './schema.js';

const JSON_TYPE = 'application/json';

export const toPostPolicy = definePolicy({
  name: 'to-post',
  description: 'Converts GET + query into POST (or PUT/PATCH) with the parameters as a urlencoded or JSON body.',
  priority: 500,
  schema: toPostSchema,
  create(o) {
    const from = new Set<string>(o.from);
    const json = o.body === 'json';
    const method = o.method;
    return {
      onRequest(ex) {
        if (!from.has(ex.method)) return;
        ex.method = method;
        // A query is already urlencoded: as a form body it is sent byte for byte, nothing re-encoded.
        ex.body = json ? JSON.stringify(pairsToObject(parsePairs(ex.query))) : ex.query;
        ex.headers['content-type'] = json ? JSON_TYPE : FORM;
        ex.query = '';
      },
    };
  },
});
