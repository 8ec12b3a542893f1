import { definePolicy } from '../types.js';
import { FORM } from '../shared/body.js';
import { pairsToObject, parsePairs } from '../shared/query.js';
import { toPostInfo } from './schema.js';

const JSON_TYPE = 'application/json';

export const toPostPolicy = definePolicy({
  ...toPostInfo,
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
