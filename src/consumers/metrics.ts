/**
 * 3scale-style mapping rules: a request whose method and path match a rule adds the rule's delta to its
 * metric. Patterns: `/books/{id}` (a `{name}` matches one path segment), a trailing `$` anchors the end,
 * otherwise a rule matches as a prefix. Every counted request adds 1 to `hits` unless a rule already counted
 * `hits`. Rules are compiled once per rule set (cached by identity), never per request.
 */
import type { MappingRule } from '../store/types.js';

export type MetricDeltas = ReadonlyArray<readonly [metric: string, delta: number]>;

export const HITS_ONLY: MetricDeltas = Object.freeze([Object.freeze(['hits', 1] as const)]);

interface CompiledRule {
  method: string;
  re: RegExp;
  metric: string;
  delta: number;
  last: boolean;
}

const compiled = new WeakMap<readonly MappingRule[], CompiledRule[]>();

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function compilePattern(pattern: string): RegExp {
  const anchored = pattern.endsWith('$');
  const body = (anchored ? pattern.slice(0, -1) : pattern).split(/(\{[^}/]+\})/).map((part) => (/^\{[^}/]+\}$/.test(part) ? '[^/]+' : escapeRe(part))).join('');
  return new RegExp(`^${body}${anchored ? '$' : ''}`);
}

function compileRules(rules: readonly MappingRule[]): CompiledRule[] {
  let c = compiled.get(rules);
  if (!c) {
    c = rules.map((r) => ({ method: r.method.toUpperCase(), re: compilePattern(r.pattern), metric: r.metric, delta: r.delta, last: r.last }));
    compiled.set(rules, c);
  }
  return c;
}

/** What a request counts: metric -> delta, in rule order, `hits` first when added by default. */
export function metricsFor(rules: readonly MappingRule[], method: string, path: string): MetricDeltas {
  if (rules.length === 0) return HITS_ONLY;
  const out = new Map<string, number>();
  for (const r of compileRules(rules)) {
    if ((r.method === '*' || r.method === method) && r.re.test(path)) {
      out.set(r.metric, (out.get(r.metric) ?? 0) + r.delta);
      if (r.last) break;
    }
  }
  if (!out.has('hits')) return [['hits', 1], ...out];
  return [...out];
}
