import { describe, expect, it } from 'vitest';
import type { PolicyHooks } from '../policies/types.js';
import { compilePhases } from './pipeline.js';
import type { ChainEntry } from './snapshot.js';

const entry = (label: string, hooks: PolicyHooks): ChainEntry => ({ label, priority: 0, hooks });
const noop = () => undefined;

describe('compilePhases', () => {
  // auth (request only) → cache (request, response) → transform (response only) → credentials (request only)
  const chain = [
    entry('auth', { onRequest: noop }),
    entry('cache', { onRequest: noop, onResponse: noop, onUpstreamError: noop, onDone: noop }),
    entry('transform', { onResponse: noop, onResponseHead: () => undefined }),
    entry('credentials', { onRequest: noop }),
  ];
  const ph = compilePhases(chain);

  it('lists request hooks in chain order and response hooks nearest the upstream first', () => {
    expect(ph.request.map((e) => e.label)).toEqual(['auth', 'cache', 'credentials']);
    expect(ph.response.map((e) => e.label)).toEqual(['transform', 'cache']);
    expect(ph.upstreamError.map((e) => e.label)).toEqual(['cache']);
    expect(ph.done.map((e) => e.label)).toEqual(['cache']);
  });

  it('sends a reply made at a position back through the response hooks of the policies before it only', () => {
    const through = (at: number) => ph.response.slice(ph.replyAt[at]).map((e) => e.label);
    expect(through(0)).toEqual([]); // auth's 401: nobody before it
    expect(through(1)).toEqual([]); // cache hit: auth has no response hook
    expect(through(2)).toEqual(['cache']);
    expect(through(3)).toEqual(['transform', 'cache']);
    expect(through(4)).toEqual(['transform', 'cache']); // the route's own `respond`
  });

  it('takes the direct path only when every response hook can edit in place', () => {
    expect(ph.responseHead).toBeUndefined();
    const direct = compilePhases([entry('mask', { onResponse: noop, onResponseHead: () => undefined })]);
    expect(direct.responseHead?.map((e) => e.label)).toEqual(['mask']);
  });
});
