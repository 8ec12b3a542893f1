import { describe, expect, it } from 'vitest';
import type { MappingRule } from '../store/types.js';
import { compilePattern, metricsFor } from './metrics.js';

const rule = (method: string, pattern: string, metric: string, delta = 1, last = false): MappingRule => ({ id: pattern, serviceId: 's', method, pattern, metric, delta, last, position: 0 });

describe('mapping rules', () => {
  it('{name} matches one segment, a trailing $ anchors, otherwise a prefix', () => {
    expect(compilePattern('/books/{id}').test('/books/42/reviews')).toBe(true);
    expect(compilePattern('/books/{id}$').test('/books/42/reviews')).toBe(false);
    expect(compilePattern('/books/{id}$').test('/books/42')).toBe(true);
    expect(compilePattern('/books/{id}').test('/books/')).toBe(false);
    expect(compilePattern('/a.b').test('/axb')).toBe(false);
  });

  it('a request counts hits 1 plus what matching rules add', () => {
    const rules = [rule('GET', '/search', 'search'), rule('*', '/search', 'search', 2)];
    expect(metricsFor(rules, 'GET', '/search')).toEqual([['hits', 1], ['search', 3]]);
    expect(metricsFor(rules, 'POST', '/search')).toEqual([['hits', 1], ['search', 2]]);
    expect(metricsFor(rules, 'GET', '/other')).toEqual([['hits', 1]]);
  });

  it('a rule on hits replaces the default 1, and `last` stops evaluation', () => {
    const rules = [rule('GET', '/big', 'hits', 5, true), rule('GET', '/big', 'search')];
    expect(metricsFor(rules, 'GET', '/big')).toEqual([['hits', 5]]);
  });
});
