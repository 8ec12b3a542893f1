import { definePolicy } from '../types.js';
import type { UpstreamResponse } from '../types.js';
import { bufferStream, peek, replay } from '../shared/body.js';
import { mapErrorsInfo } from './schema.js';
import type { MapErrorRule } from './schema.js';
import { atPath, compileTemplate, parseJsonPath } from './template.js';
import type { Render } from './template.js';

interface CompiledRule {
  statuses: ReadonlySet<number> | undefined;
  regex: RegExp | undefined;
  jsonPath: Array<string | number> | undefined;
  status: number;
  headers: Record<string, string>;
  contentType: string;
  render: Render;
  json: boolean;
}

function compileRule(r: MapErrorRule, i: number): CompiledRule {
  let regex: RegExp | undefined;
  if (r.when.bodyMatches !== undefined) {
    try {
      regex = new RegExp(r.when.bodyMatches, r.when.flags);
    } catch (e) {
      throw new Error(`map-errors: rule ${i + 1}: bodyMatches is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  const s = r.when.status;
  const json = r.respond.body === undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.respond.headers)) headers[k.toLowerCase()] = v;
  return {
    statuses: s === undefined ? undefined : new Set(Array.isArray(s) ? s : [s]),
    regex,
    jsonPath: r.when.jsonPath !== undefined ? parseJsonPath(r.when.jsonPath) : undefined,
    status: r.respond.status,
    headers,
    contentType: json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    render: compileTemplate(json ? (r.respond.json ?? null) : r.respond.body),
    json,
  };
}

/** The groups of the first rule that matches, or undefined. */
function match(rule: CompiledRule, text: string, whole: boolean, parsed: () => unknown): ReadonlyArray<string | undefined> | undefined {
  if (rule.jsonPath) {
    if (!whole) return undefined;
    const v = atPath(parsed(), rule.jsonPath);
    if (v === undefined) return undefined;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    if (!rule.regex) return [s, s];
    const m = rule.regex.exec(s);
    return m ? [...m] : undefined;
  }
  if (!rule.regex) return [text];
  const m = rule.regex.exec(text);
  return m ? [...m] : undefined;
}

const NOT_JSON = Symbol('not json');

export const mapErrorsPolicy = definePolicy({
  ...mapErrorsInfo,
  create(o) {
    const list = Array.isArray(o) ? o : o.rules;
    const peekBytes = Array.isArray(o) ? 4096 : o.peekBytes;
    const rules = list.map(compileRule);
    const anyStatus = rules.some((r) => !r.statuses);
    const statuses = new Set(rules.flatMap((r) => (r.statuses ? [...r.statuses] : [])));

    async function inspect(res: UpstreamResponse, body: NonNullable<UpstreamResponse['body']>): Promise<UpstreamResponse> {
      const { head, ended } = await peek(body, peekBytes);
      const window = head.length > peekBytes ? head.subarray(0, peekBytes) : head;
      // A body that fits is judged whole: its trailing newline is not part of the message.
      const text = ended ? window.toString('utf8').trimEnd() : window.toString('utf8');
      let parsedValue: unknown;
      const parsed = () => {
        if (parsedValue === undefined) {
          try {
            parsedValue = JSON.parse(text);
          } catch {
            parsedValue = NOT_JSON;
          }
        }
        return parsedValue === NOT_JSON ? undefined : parsedValue;
      };
      const whole = ended && head.length <= peekBytes;
      for (const rule of rules) {
        if (rule.statuses && !rule.statuses.has(res.status)) continue;
        const groups = match(rule, text, whole, parsed);
        if (!groups) continue;
        // The rest of the upstream body is read and dropped, so its connection can be reused.
        if (!ended) body.resume();
        const rendered = rule.render(groups);
        const buf = Buffer.from(rule.json ? JSON.stringify(rendered) : typeof rendered === 'string' ? rendered : rendered == null ? '' : JSON.stringify(rendered));
        return {
          status: rule.status,
          headers: { ...rule.headers, 'content-type': rule.contentType, 'content-length': String(buf.length), 'cache-control': 'no-store' },
          body: bufferStream(buf),
        };
      }
      return { ...res, body: ended ? bufferStream(head) : replay(head, body) };
    }

    return {
      onResponse(_ex, res) {
        if (!anyStatus && !statuses.has(res.status)) return;
        if (!res.body) return;
        return inspect(res, res.body);
      },
    };
  },
});
