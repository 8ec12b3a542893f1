/**
 * examples/discogs.yaml, loaded as shipped, in front of a fake Discogs (API + image server) that refuses
 * calls without a User-Agent, verifies OAuth 1.0a signatures and personal tokens on its own, and names
 * https://api.discogs.com and https://i.discogs.com in its bodies whatever address it was reached at, as
 * Discogs does.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../src/config/load.js';
import { closeAll, send, startTestGateway } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import { track } from './helpers/upstream.js';
import { DISCOGS_API_ORIGIN, DISCOGS_IMAGES_ORIGIN, startFakeDiscogs } from './fixtures/fake-discogs.js';
import type { FakeDiscogs } from './fixtures/fake-discogs.js';

const PUBLIC = 'http://discogs-proxy.internal:8080';
let discogs: FakeDiscogs;

function baseEnv(): NodeJS.ProcessEnv {
  // A fresh image cache per gateway, so each auth mode really reaches the (fake) image server.
  const DISCOGS_CACHE_DIR = mkdtempSync(join(tmpdir(), 'tg-discogs-cache-'));
  return { DISCOGS_API: discogs.url, DISCOGS_IMAGES: discogs.imagesUrl, TOLLGATE_PUBLIC_URL: PUBLIC, DISCOGS_CACHE_DIR };
}
const oauthEnv = (): NodeJS.ProcessEnv => ({
  ...baseEnv(),
  DISCOGS_CONSUMER_KEY: discogs.credentials.consumerKey,
  DISCOGS_CONSUMER_SECRET: discogs.credentials.consumerSecret,
  DISCOGS_ACCESS_TOKEN: discogs.credentials.token,
  DISCOGS_ACCESS_SECRET: discogs.credentials.tokenSecret,
});
// The variables alone choose the mode: no switch variable.
const tokenEnv = (): NodeJS.ProcessEnv => ({ ...baseEnv(), DISCOGS_TOKEN: discogs.credentials.personalToken });

const start = (env: NodeJS.ProcessEnv): Promise<TestGateway> => startTestGateway('', { configFile: 'examples/discogs.yaml', env, logs: true });

beforeEach(async () => {
  discogs = track(await startFakeDiscogs());
});
afterEach(closeAll);

for (const [mode, env] of [
  ['OAuth 1.0a', oauthEnv],
  ['personal token', tokenEnv],
] as const) {
  describe(`examples/discogs.yaml with ${mode}`, () => {
    it('signs a release lookup, sends the User-Agent, and points resource URLs at the public URL', async () => {
      const gw = await start(env());
      const r = await send(gw.url, { path: '/releases/266364', headers: { 'accept-encoding': 'gzip' } });
      expect(r.status, discogs.lastRejection).toBe(200);
      const body = r.json<Record<string, unknown>>();
      expect(body).toMatchObject({
        id: 266364,
        resource_url: `${PUBLIC}/releases/266364`,
        uri: 'https://www.discogs.com/release/266364-Cold-Sweat-EP',
        artists: [{ resource_url: `${PUBLIC}/artists/7` }],
        images: [{ uri: `${PUBLIC}/image/R-266364-1332501840.jpeg`, uri150: `${PUBLIC}/image/R-150-266364-1332501840.jpeg` }],
      });
      // The fake, like Discogs, wrote https://api.discogs.com and https://i.discogs.com: none reaches the client.
      for (const origin of [DISCOGS_API_ORIGIN, DISCOGS_IMAGES_ORIGIN, discogs.url]) expect(r.body.toString()).not.toContain(origin);
      // Authenticated callers get Discogs' higher limit; the rate-limit headers pass through.
      expect(r.headers['x-discogs-ratelimit']).toBe('60');
      expect(r.headers['x-discogs-ratelimit-used']).toBe('1');
      expect(r.headers['x-discogs-ratelimit-remaining']).toBe('59');
      expect(discogs.seen[0]).toMatchObject({ host: 'api', userAgent: 'TollgateDiscogsProxy/0.1 +https://github.com/tollgate/tollgate' });
      expect(discogs.seen[0].auth).toBe(mode === 'OAuth 1.0a' ? 'oauth' : 'token');
    });

    it('signs searches with their query and rewrites pagination links', async () => {
      const gw = await start(env());
      const r = await send(gw.url, { path: '/database/search?q=madonna%20ray&page=1', headers: { authorization: 'Bearer from-a-legacy-client' } });
      expect(r.status, discogs.lastRejection).toBe(200);
      const body = r.json<{ pagination: { urls: { next: string } }; results: Array<{ resource_url: string; thumb: string }> }>();
      expect(body.pagination.urls.next).toBe(`${PUBLIC}/database/search?q=madonna%20ray&page=2&per_page=2`);
      expect(body.results[0].resource_url).toBe(`${PUBLIC}/releases/11`);
      expect(body.results[0].thumb).toBe(`${PUBLIC}/image/R-150-11.jpeg`);
      expect(r.headers.link).toBe(`<${PUBLIC}/database/search?q=madonna%20ray&page=3&per_page=2>; rel="last", <${PUBLIC}/database/search?q=madonna%20ray&page=2&per_page=2>; rel="next"`);
    });

    it('forwards /image/… to the image server, signed the same way, bytes untouched', async () => {
      const gw = await start(env());
      const r = await send(gw.url, { path: '/image/R-35292-1332501840.jpeg' });
      expect(r.status, discogs.lastRejection).toBe(200);
      expect(r.headers['content-type']).toBe('image/jpeg');
      expect(r.body.equals(discogs.imageBytes('/R-35292-1332501840.jpeg'))).toBe(true);
      expect(discogs.seen[0]).toMatchObject({ host: 'images', url: '/R-35292-1332501840.jpeg' });
    });

    it('keeps every credential out of the access log', async () => {
      const gw = await start(env());
      await send(gw.url, { path: '/database/search?q=x' });
      await send(gw.url, { path: '/releases/1' });
      await new Promise((res) => setTimeout(res, 50));
      const logs = JSON.stringify(gw.logs);
      const c = discogs.credentials;
      for (const s of [c.consumerSecret, c.token, c.tokenSecret, c.personalToken]) expect(logs).not.toContain(s);
    });
  });
}

describe('examples/discogs.yaml settings', () => {
  it('TOLLGATE_USER_AGENT overrides the User-Agent', async () => {
    const gw = await start({ ...tokenEnv(), TOLLGATE_USER_AGENT: 'LegacyApps/2.0 +https://example.org' });
    await send(gw.url, { path: '/releases/1' });
    expect(discogs.seen[0].userAgent).toBe('LegacyApps/2.0 +https://example.org');
  });

  it('a wrong OAuth secret is refused by Discogs, so the signature is really checked', async () => {
    const gw = await start({ ...oauthEnv(), DISCOGS_ACCESS_SECRET: 'not-the-secret' });
    const r = await send(gw.url, { path: '/database/search?q=x' });
    expect(r.status).toBe(401);
    expect(discogs.lastRejection).toBe('invalid signature');
  });

  it('neither or both kinds of credentials: the config does not start, and one error names the variables', async () => {
    const names = 'DISCOGS_TOKEN, or all of DISCOGS_CONSUMER_KEY, DISCOGS_CONSUMER_SECRET, DISCOGS_ACCESS_TOKEN, DISCOGS_ACCESS_SECRET';
    const neither = (await start(baseEnv()).catch((e: Error) => e)) as ConfigError;
    expect(neither).toBeInstanceOf(ConfigError);
    expect(neither.problems.map(formatProblem)).toEqual([expect.stringMatching(new RegExp(`^examples/discogs\\.yaml:\\d+: policies\\.discogs-auth\\.oneOf: no alternative applies: set ${names}$`))]);
    const both = (await start({ ...oauthEnv(), DISCOGS_TOKEN: discogs.credentials.personalToken }).catch((e: Error) => e)) as ConfigError;
    expect(both.problems.map(formatProblem)).toEqual([expect.stringMatching(/discogs-auth\.oneOf: variables of more than one alternative are set, \(DISCOGS_TOKEN\) and \(DISCOGS_CONSUMER_KEY, .*\): set only DISCOGS_TOKEN, or all of /)]);
    const half = (await start({ ...baseEnv(), DISCOGS_CONSUMER_KEY: 'k', DISCOGS_CONSUMER_SECRET: 's' }).catch((e: Error) => e)) as ConfigError;
    expect(half.problems.map(formatProblem)).toEqual([expect.stringMatching(/\(DISCOGS_ACCESS_TOKEN, DISCOGS_ACCESS_SECRET are not set\)$/)]);
  });

  it('DISCOGS_AUTH from earlier versions is still accepted (and not needed)', async () => {
    for (const env of [{ ...tokenEnv(), DISCOGS_AUTH: 'token' }, { ...oauthEnv(), DISCOGS_AUTH: 'oauth1' }]) {
      const gw = await start(env);
      const r = await send(gw.url, { path: '/database/search?q=x' });
      expect(r.status, discogs.lastRejection).toBe(200);
      await gw.close();
    }
  });

  it('the fake refuses what Discogs refuses: no User-Agent, no or bad auth on search', async () => {
    const direct = await send(discogs.url, { path: '/releases/1' });
    expect(direct.status).toBe(403);
    const anon = await send(discogs.url, { path: '/database/search?q=x', headers: { 'user-agent': 'curl/8' } });
    expect(anon.status).toBe(401);
  });
});
