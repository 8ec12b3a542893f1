import { describe, expect, it } from 'vitest';
import { isLoopback, parseParams, presentedClient } from './policy.js';

const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

describe('oauth2 endpoint request parsing', () => {
  it('decodes Basic client credentials that were form-urlencoded before base64 (RFC 6749 §2.3.1)', () => {
    // What oauth4webapi sends for demo-client / demo-secret/+1.
    expect(presentedClient(basic('demo%2Dclient:demo%2Dsecret%2F%2B1'), new Map())).toEqual({ clientId: 'demo-client', clientSecret: 'demo-secret/+1', viaBasic: true });
    // What simple-oauth2 sends: only the reserved characters encoded.
    expect(presentedClient(basic('demo-client:demo-secret%2F%2B1'), new Map())).toMatchObject({ clientId: 'demo-client', clientSecret: 'demo-secret/+1' });
    // '+' is a space in form encoding.
    expect(presentedClient(basic('a+b:c'), new Map())).toMatchObject({ clientId: 'a b', clientSecret: 'c' });
  });

  it('takes body credentials, a public client by its id alone, and refuses two methods at once', () => {
    expect(presentedClient(undefined, new Map([['client_id', 'spa']]))).toEqual({ clientId: 'spa', clientSecret: undefined, viaBasic: false });
    expect(presentedClient(undefined, new Map([['client_id', 'web'], ['client_secret', 's3cret-value']]))).toMatchObject({ clientSecret: 's3cret-value' });
    expect(presentedClient(undefined, new Map())).toBeUndefined();
    expect(() => presentedClient(basic('web:x'), new Map([['client_secret', 'y']]))).toThrow(/one way only/);
    expect(() => presentedClient(basic('web:x'), new Map([['client_id', 'other']]))).toThrow(/does not match/);
    expect(() => presentedClient(basic('no-colon'), new Map())).toThrow(/no colon/);
    expect(() => presentedClient(basic('%E0%A4%A:x'), new Map())).toThrow(/form-urlencoded/);
  });

  it('reads form and JSON bodies, refuses repeated parameters and other content types', () => {
    expect(parseParams('application/x-www-form-urlencoded;charset=UTF-8', Buffer.from('grant_type=password&username=alice'))).toEqual(
      new Map([['grant_type', 'password'], ['username', 'alice']]),
    );
    expect(parseParams('application/json', Buffer.from('{"grant_type":"client_credentials","n":1}'))).toEqual(new Map([['grant_type', 'client_credentials'], ['n', '1']]));
    expect(() => parseParams('application/x-www-form-urlencoded', Buffer.from('scope=a&scope=b'))).toThrow(/more than once/);
    expect(() => parseParams('application/json', Buffer.from('[1]'))).toThrow(/object/);
    expect(() => parseParams('application/json', Buffer.from('{"a":{"b":1}}'))).toThrow(/string/);
    expect(() => parseParams('text/plain', Buffer.from('grant_type=password'))).toThrow(/x-www-form-urlencoded/);
    expect(() => parseParams(undefined, Buffer.alloc(0))).toThrow();
  });

  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['203.0.113.7', '::ffff:10.0.0.1', '2001:db8::1', '']) expect(isLoopback(a)).toBe(false);
  });
});
