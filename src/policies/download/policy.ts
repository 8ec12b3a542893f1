import { definePolicy } from '../types.js';
import type { Exchange } from '../types.js';
import { parsePairs } from '../shared/query.js';
import { compileTemplate, contentDisposition } from './filename.js';
import { downloadInfo } from './schema.js';

export const downloadPolicy = definePolicy({
  ...downloadInfo,
  create(o) {
    const template = compileTemplate(o.filename);
    const statuses = o.status ? new Set(o.status) : undefined;
    const wanted = new Set(template.names);
    const type = o.type;

    /** Route params first, then the client's own query (a policy like to-post may have moved it upstream). */
    function lookupFor(ex: Exchange): (name: string) => string | undefined {
      let query: Map<string, string> | undefined;
      return (name) => {
        const p = ex.params[name];
        if (p !== undefined) return p;
        if (!query) {
          query = new Map();
          if (ex.client.query !== '') for (const [k, v] of parsePairs(ex.client.query)) if (wanted.has(k) && !query.has(k)) query.set(k, v);
        }
        return query.get(name);
      };
    }

    return {
      onResponse(ex, res) {
        if (statuses ? !statuses.has(res.status) : res.status < 200 || res.status >= 300) return;
        res.headers['content-disposition'] = contentDisposition(type, template.render(lookupFor(ex)));
      },
    };
  },
});
