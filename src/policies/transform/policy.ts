import { definePolicy } from '../types.js';
import { appendRaw, encodePair, removeParams, renameParams } from '../shared/query.js';
import { transformInfo } from './schema.js';

const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\r\n\0]/;
/** Headers the gateway owns on the upstream side; changing them here would break framing or forwarding. */
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

function checkHeader(name: string): string {
  const n = name.toLowerCase();
  if (!FIELD_NAME.test(n)) throw new Error(`transform: ${JSON.stringify(name)} is not a valid header name`);
  if (RESERVED.has(n)) throw new Error(`transform: header ${n} is managed by the gateway and cannot be changed here`);
  return n;
}

export const transformPolicy = definePolicy({
  ...transformInfo,
  create(o) {
    const hRename = Object.entries(o.headers.rename).map(([a, b]) => [checkHeader(a), checkHeader(b)] as const);
    const hRemove = o.headers.remove.map(checkHeader);
    const hSet = Object.entries(o.headers.set).map(([k, v]) => {
      if (BAD_VALUE.test(v)) throw new Error(`transform: the value of header ${k} contains a line break or NUL`);
      return [checkHeader(k), v] as const;
    });
    const qRename = new Map(Object.entries(o.query.rename));
    const qRemove = new Set([...o.query.remove, ...Object.keys(o.query.set)]);
    const qSet = Object.entries(o.query.set)
      .map(([k, v]) => encodePair(k, v))
      .join('&');
    const touchesQuery = qRename.size > 0 || qRemove.size > 0;
    if (!hRename.length && !hRemove.length && !hSet.length && !touchesQuery) throw new Error('transform: nothing to do (set headers or query changes)');

    return {
      onRequest(ex) {
        const h = ex.headers;
        for (const [from, to] of hRename) {
          const v = h[from];
          if (v === undefined) continue;
          delete h[from];
          h[to] = v;
        }
        for (const n of hRemove) delete h[n];
        for (const [n, v] of hSet) h[n] = v;
        if (touchesQuery) {
          let q = ex.query;
          if (qRename.size) q = renameParams(q, qRename);
          if (qRemove.size) q = removeParams(q, qRemove);
          ex.query = appendRaw(q, qSet);
        }
      },
    };
  },
});
