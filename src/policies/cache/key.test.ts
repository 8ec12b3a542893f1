import { describe, expect, it } from 'vitest';
import { createKeyBuilder, normalizePercent, pathPrefixes } from './key.js';
import { cacheKeySchema } from './schema.js';

const opts = (o: Record<string, unknown> = {}) => cacheKeySchema.parse(o);

describe('cache keys', () => {
  it('normalizes percent-encoding of unreserved characters and hex case only', () => {
    expect(normalizePercent('/a%7eb%2fc%2F')).toBe('/a~b%2Fc%2F');
    expect(normalizePercent('/plain')).toBe('/plain');
  });

  it('hashes secret query values so no credential appears in a key', () => {
    const k = createKeyBuilder('r', opts(), false);
    const t = k.target('/s?q=madonna&api_key=SECRET123');
    expect(t).not.toContain('SECRET123');
    expect(t).toMatch(/^\/s\?q=madonna&api_key=#/);
    expect(k.target('/s?q=madonna&api_key=OTHER')).not.toBe(t);
  });

  it('drops ignored parameters and sorts when asked', () => {
    const k = createKeyBuilder('r', opts({ sortQuery: true, ignoreParams: ['utm_source'] }), false);
    expect(k.target('/s?b=2&utm_source=x&a=1')).toBe('/s?a=1&b=2');
  });

  it('scopes by consumer unless shared; anonymous callers share the public scope', () => {
    const own = createKeyBuilder('r', opts(), false);
    const shared = createKeyBuilder('r', opts(), true);
    expect(own.scope({ id: 'alice' })).toBe('c:alice');
    expect(shared.scope({ id: 'alice' })).toBe('shared');
    expect(own.scope(undefined)).toBe('public');
    expect(own.scope({ id: '10.0.0.1', anonymous: true })).toBe('public');
  });

  it('hashes sensitive header values that vary the key', () => {
    const k = createKeyBuilder('r', opts({ headers: ['authorization'] }), false);
    const base = k.base('/x', 'GET', 'public', { authorization: 'Bearer TOPSECRET' });
    expect(base).not.toContain('TOPSECRET');
    const v = k.variant(base, ['cookie', 'accept'], { cookie: 'sid=SECRETSID', accept: 'text/html' });
    expect(v).not.toContain('SECRETSID');
    expect(v).toContain('accept=text/html');
  });

  it('starts every key with the target so path prefixes select entries', () => {
    const k = createKeyBuilder('r', opts(), false);
    const key = k.base(k.target('/items?page=2'), 'GET', 'public', {});
    expect(pathPrefixes('/items').some((p) => key.startsWith(p))).toBe(true);
    expect(pathPrefixes('/item').some((p) => key.startsWith(p))).toBe(false);
  });

  it('gives a GET the same key from the client URL as built by parts, for every scope and key header', () => {
    const k = createKeyBuilder('r', opts(), false);
    for (const url of ['/a%7eb?x=1&api_key=S', '/items?page=2', '/plain']) {
      expect(k.getKey(url, 'public', {})).toBe(k.base(k.target(url), 'GET', 'public', {}));
      expect(k.getKey(url, 'c:alice', {})).toBe(k.base(k.target(url), 'GET', 'c:alice', {}));
    }
    // Asked twice: the remembered key is the same as the computed one (secret values hashed both times).
    expect(k.getKey('/s?api_key=SECRET', 'public', {})).toBe(k.getKey('/s?api_key=SECRET', 'public', {}));
    expect(k.getKey('/s?api_key=SECRET', 'public', {})).not.toContain('SECRET');
    const withHeader = createKeyBuilder('r', opts({ headers: ['accept-language'] }), false);
    expect(withHeader.getKey('/x', 'public', { 'accept-language': 'de' })).toBe(withHeader.base('/x', 'GET', 'public', { 'accept-language': 'de' }));
    expect(withHeader.getKey('/x', 'public', { 'accept-language': 'fr' })).not.toBe(withHeader.getKey('/x', 'public', { 'accept-language': 'de' }));
  });
});
