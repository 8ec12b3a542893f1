import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, gatewayWithPolicies, rawHeader, send } from '../../../test/helpers/gateway.js';
import { echo } from '../../../test/helpers/upstream.js';
import type { TestUpstream } from '../../../test/helpers/upstream.js';

afterEach(closeAll);
const last = (up: TestUpstream) => up.requests[up.requests.length - 1];

function gatewayWith(options: string) {
  return gatewayWithPolicies(echo, ` [{ to-post: ${options} }]`);
}

describe('to-post', () => {
  it('sends a GET query as a urlencoded POST body, byte for byte', async () => {
    const { up, gw } = await gatewayWith('{}');
    const r = await send(gw.url, { path: '/opendata?year=2018&month=3&q=a%20b+c' });
    expect(r.status).toBe(200);
    const got = last(up);
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/opendata');
    expect(got.body.toString()).toBe('year=2018&month=3&q=a%20b+c');
    expect(rawHeader(got.rawHeaders, 'content-type')).toBe('application/x-www-form-urlencoded');
    expect(rawHeader(got.rawHeaders, 'content-length')).toBe(String(got.body.length));
  });

  it('sends a JSON body when asked, repeated names as arrays', async () => {
    const { up, gw } = await gatewayWith('{ body: json, method: PUT }');
    await send(gw.url, { path: '/x?a=1&tag=x&tag=y%20z' });
    expect(last(up).method).toBe('PUT');
    expect(JSON.parse(last(up).body.toString())).toEqual({ a: '1', tag: ['x', 'y z'] });
    expect(rawHeader(last(up).rawHeaders, 'content-type')).toBe('application/json');
  });

  it('leaves methods it was not asked to convert alone', async () => {
    const { up, gw } = await gatewayWith('{}');
    await send(gw.url, { method: 'POST', path: '/x?keep=1', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(last(up).url).toBe('/x?keep=1');
    expect(last(up).body.toString()).toBe('hello');
  });
});
