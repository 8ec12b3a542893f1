import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { request } from 'undici';
import { askForConsumer, registerOauth1Command, resolveOauth1SetupOptions, runOauth1Setup } from '../src/cli/oauth1.js';
import type { Oauth1SetupIo, Oauth1SetupOptions } from '../src/cli/oauth1.js';
import { signRequest } from '../src/policies/oauth1/sign.js';
import { startFakeOauth1Provider } from './fixtures/fake-oauth1-provider.js';
import type { FakeOauth1Provider } from './fixtures/fake-oauth1-provider.js';

let provider: FakeOauth1Provider;
let dir: string;
beforeEach(async () => {
  provider = await startFakeOauth1Provider({ username: 'vinyl_fan' });
  dir = await mkdtemp(join(tmpdir(), 'tollgate-oauth1-'));
});
afterEach(async () => {
  process.exitCode = undefined;
  await provider.close();
  await rm(dir, { recursive: true, force: true });
});

/** A terminal stand-in: records what is printed, and answers the prompt with `answer(authorizeUrl)`. */
function scriptedIo(answer: (authorizeUrl: URL) => string | Promise<string>) {
  const out: string[] = [];
  const err: string[] = [];
  const prompts: string[] = [];
  const io: Oauth1SetupIo & { err(line: string): void } = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    async prompt(question) {
      prompts.push(question);
      const printed = out.find((line) => line.includes('/oauth/authorize?'));
      if (!printed) throw new Error('prompted before the authorize URL was printed');
      return answer(new URL(printed.trim()));
    },
  };
  return { io, out, err, prompts };
}

/** The user approves on the provider's page and reads the code it shows. */
const approveAndReadCode = (authorizeUrl: URL): string => provider.approve(authorizeUrl.searchParams.get('oauth_token') ?? '');

function baseOptions(): Oauth1SetupOptions {
  return {
    requestTokenUrl: `${provider.url}/oauth/request_token`,
    authorizeUrl: `${provider.url}/oauth/authorize`,
    accessTokenUrl: `${provider.url}/oauth/access_token`,
    identityUrl: `${provider.url}/oauth/identity`,
    consumerKey: provider.consumerKey,
    consumerSecret: provider.consumerSecret,
    signatureMethod: 'HMAC-SHA1',
    callback: 'oob',
    userAgent: 'TollgateTest/1.0',
    envPrefix: 'DISCOGS_',
    policyName: 'discogs-signing',
  };
}

function program(io: Oauth1SetupIo & { err(line: string): void }, env: NodeJS.ProcessEnv = {}): Command {
  const cmd = new Command().exitOverride();
  registerOauth1Command(cmd, { io, env });
  return cmd;
}

const envValue = (lines: string[], name: string): string | undefined =>
  lines.find((line) => line.startsWith(`${name}=`))?.slice(name.length + 1);

describe('tollgate oauth1 setup: the three-legged flow', () => {
  it('prompts for the code after printing the authorize URL, and the tokens it prints sign requests the provider accepts', async () => {
    const { io, out, prompts } = scriptedIo(approveAndReadCode);
    const result = await runOauth1Setup(baseOptions(), io);

    expect(prompts).toEqual(['Paste the verification code the provider shows:']);
    expect(envValue(out, 'DISCOGS_ACCESS_TOKEN')).toBe(result.token);
    expect(envValue(out, 'DISCOGS_ACCESS_SECRET')).toBe(result.tokenSecret);
    expect(out).toContain('Identity check: signed in as vinyl_fan.');
    expect(out).toContain('      tokenSecret: "${DISCOGS_ACCESS_SECRET}"');

    const url = `${provider.url}/oauth/identity`;
    const authorization = signRequest({
      method: 'GET',
      url,
      consumerKey: provider.consumerKey,
      consumerSecret: provider.consumerSecret,
      token: result.token,
      tokenSecret: result.tokenSecret,
      signatureMethod: 'HMAC-SHA1',
    });
    const res = await request(url, { headers: { authorization } });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ username: 'vinyl_fan' });
  });

  it('by flags and env through the command: a callback URL, the pasted redirect URL, and a 0600 secrets file merged into an existing one', async () => {
    // The "browser" follows the authorize page's approval link and lands on the callback (not served).
    const { io, out, err, prompts } = scriptedIo(async (authorizeUrl) => {
      authorizeUrl.searchParams.set('approve', '1');
      const res = await request(authorizeUrl);
      await res.body.dump();
      expect(res.statusCode).toBe(302);
      return String(res.headers.location);
    });
    const secretsFile = join(dir, 'tollgate.env');
    await writeFile(secretsFile, 'TOLLGATE_ADMIN_TOKEN=keep-me\nOAUTH1_ACCESS_TOKEN=stale\n', { mode: 0o644 });

    await program(io, { OAUTH1_CONSUMER_SECRET: provider.consumerSecret }).parseAsync([
      'node', 'tollgate', 'oauth1', 'setup',
      '--request-token-url', `${provider.url}/oauth/request_token`,
      '--authorize-url', `${provider.url}/oauth/authorize`,
      '--access-token-url', `${provider.url}/oauth/access_token`,
      '--consumer-key', provider.consumerKey,
      '--callback', 'http://127.0.0.1:9/oauth-callback',
      '--signature', 'HMAC-SHA256',
      '--write-secrets', secretsFile,
    ]);

    expect(err).toEqual([]);
    expect(process.exitCode).toBeUndefined();
    expect(prompts[0]).toMatch(/Paste the URL your browser was sent to/);
    expect((await stat(secretsFile)).mode & 0o777).toBe(0o600);
    const lines = (await readFile(secretsFile, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('TOLLGATE_ADMIN_TOKEN=keep-me');
    expect(lines.filter((l) => l.startsWith('OAUTH1_ACCESS_TOKEN='))).toHaveLength(1);
    expect(envValue(lines, 'OAUTH1_CONSUMER_SECRET')).toBe(provider.consumerSecret);
    // With a file, the secrets are not echoed to the terminal.
    expect(out.join('\n')).not.toContain(envValue(lines, 'OAUTH1_ACCESS_SECRET'));
    expect(out).toContain('      signature: HMAC-SHA256');

    const url = `${provider.url}/oauth/identity`;
    const authorization = signRequest({
      method: 'GET', url, consumerKey: provider.consumerKey, consumerSecret: provider.consumerSecret,
      token: envValue(lines, 'OAUTH1_ACCESS_TOKEN'), tokenSecret: envValue(lines, 'OAUTH1_ACCESS_SECRET'), signatureMethod: 'HMAC-SHA1',
    });
    expect((await request(url, { headers: { authorization } })).statusCode).toBe(200);
  });

  it('fully by flags, without a prompt: a first run that gets no code prints how to resume, the second run finishes', async () => {
    const env = { DISCOGS_CONSUMER_KEY: provider.consumerKey, DISCOGS_CONSUMER_SECRET: provider.consumerSecret };
    const urls = [
      '--request-token-url', `${provider.url}/oauth/request_token`,
      '--authorize-url', `${provider.url}/oauth/authorize`,
      '--access-token-url', `${provider.url}/oauth/access_token`,
      '--identity-url', `${provider.url}/oauth/identity`,
    ];
    // Run 1: stdin gives nothing (as `</dev/null` would).
    const first = scriptedIo(() => '');
    await program(first.io, env).parseAsync(['node', 'tollgate', 'oauth1', 'setup', '--provider', 'discogs', ...urls]);
    expect(process.exitCode).toBe(1);
    expect(first.err).toEqual(['error: No verification code given.']);
    const resume = first.out.find((line) => line.includes('--request-token '))?.trim().split(/\s+/) ?? [];
    const requestToken = resume[resume.indexOf('--request-token') + 1];
    const requestTokenSecret = resume[resume.indexOf('--request-token-secret') + 1];
    process.exitCode = undefined;

    // The user approves in a browser meanwhile; run 2 passes everything as flags.
    const code = provider.approve(requestToken);
    const second = scriptedIo(() => {
      throw new Error('must not prompt when --verifier is given');
    });
    await program(second.io, env).parseAsync([
      'node', 'tollgate', 'oauth1', 'setup', '--provider', 'discogs', ...urls,
      '--request-token', requestToken, '--request-token-secret', requestTokenSecret, '--verifier', code,
    ]);
    expect(second.err).toEqual([]);
    expect(process.exitCode).toBeUndefined();
    expect(envValue(second.out, 'DISCOGS_ACCESS_TOKEN')).toMatch(/^[0-9a-f]{24}$/);
    expect(second.out).toContain('Identity check: signed in as vinyl_fan.');
    expect(second.out).toContain('  discogs-signing:');
  });
});

describe('tollgate oauth1 setup: failures the user can act on', () => {
  it('a wrong consumer secret: the provider\'s status and message, exit code 1, no stack and no secret', async () => {
    const { io, out, err } = scriptedIo(approveAndReadCode);
    await program(io).parseAsync([
      'node', 'tollgate', 'oauth1', 'setup',
      '--request-token-url', `${provider.url}/oauth/request_token`,
      '--authorize-url', `${provider.url}/oauth/authorize`,
      '--access-token-url', `${provider.url}/oauth/access_token`,
      '--consumer-key', provider.consumerKey,
      '--consumer-secret', 'not-the-secret',
    ]);
    expect(process.exitCode).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^error: Request token refused: ${provider.url}/oauth/request_token answered 401: Invalid signature\\.`));
    expect(err[0].length).toBeLessThan(400);
    expect(err[0]).toMatch(/…$/);
    expect(err[0]).not.toMatch(/\n\s+at /);
    expect([...out, ...err].join('\n')).not.toContain('not-the-secret');
  });

  it('a wrong consumer key shows the provider saying so', async () => {
    const { io } = scriptedIo(approveAndReadCode);
    await expect(runOauth1Setup({ ...baseOptions(), consumerKey: 'someone-else' }, io)).rejects.toThrow(
      /^Request token refused: .* answered 401: Invalid consumer\.$/,
    );
  });

  it('a code from another authorization is refused at the access token step', async () => {
    const { io } = scriptedIo(() => 'not-the-code');
    await expect(runOauth1Setup(baseOptions(), io)).rejects.toThrow(/^Access token refused: .* answered 401: Invalid verifier\.$/);
  });

  it('an unreachable provider and missing settings are one-line errors', async () => {
    const { io, err } = scriptedIo(approveAndReadCode);
    await provider.close();
    await program(io).parseAsync(['node', 'tollgate', 'oauth1', 'setup', '--provider', 'discogs', '--consumer-key', 'k', '--consumer-secret', 's', '--request-token-url', `${provider.url}/oauth/request_token`]);
    expect(err[0]).toMatch(/^error: Request token: could not reach http:\/\/127\.0\.0\.1:\d+: /);
    provider = await startFakeOauth1Provider();

    expect(() => resolveOauth1SetupOptions({ provider: 'discogs' }, {})).toThrow(/Missing --consumer-key \(or DISCOGS_CONSUMER_KEY \/ OAUTH1_CONSUMER_KEY\)/);
    expect(() => resolveOauth1SetupOptions({ consumerKey: 'k', consumerSecret: 's' }, {})).toThrow(/Missing --request-token-url, --authorize-url, --access-token-url/);
    expect(() => resolveOauth1SetupOptions({ provider: 'discogs', verifier: '123' }, { DISCOGS_CONSUMER_KEY: 'k', DISCOGS_CONSUMER_SECRET: 's' })).toThrow(/--verifier belongs to a request token/);
  });

  it('on a terminal, asks only for what flags and environment leave out, the secret through the hidden prompt', async () => {
    const asked: string[] = [];
    const io = { ...scriptedIo(approveAndReadCode).io, ask: { text: async (q: string) => (asked.push(`text ${q}`), ' typed-key '), secret: async (q: string) => (asked.push(`secret ${q}`), 'typed-secret') } };
    expect(await askForConsumer({ provider: 'discogs' }, {}, io)).toMatchObject({ consumerKey: 'typed-key', consumerSecret: 'typed-secret' });
    expect(asked).toEqual(['text Consumer key (from https://www.discogs.com/settings/developers):', 'secret Consumer secret (not shown):']);
    asked.length = 0;
    expect(await askForConsumer({ provider: 'discogs' }, { DISCOGS_CONSUMER_KEY: 'k' }, io)).toMatchObject({ consumerSecret: 'typed-secret' });
    expect(asked).toEqual(['secret Consumer secret (not shown):']);
    asked.length = 0;
    // No endpoints: nothing is asked, the run fails on what is really missing.
    expect(await askForConsumer({}, {}, io)).toEqual({});
    expect(asked).toEqual([]);
  });

  it('the discogs preset fills in the Discogs endpoints, env names and prefix', () => {
    const opts = resolveOauth1SetupOptions({ provider: 'discogs' }, { DISCOGS_CONSUMER_KEY: 'k', OAUTH1_CONSUMER_SECRET: 's' });
    expect(opts).toMatchObject({
      requestTokenUrl: 'https://api.discogs.com/oauth/request_token',
      authorizeUrl: 'https://www.discogs.com/oauth/authorize',
      accessTokenUrl: 'https://api.discogs.com/oauth/access_token',
      identityUrl: 'https://api.discogs.com/oauth/identity',
      consumerKey: 'k',
      consumerSecret: 's',
      envPrefix: 'DISCOGS_',
      callback: 'oob',
      userAgent: 'Tollgate/0.1 +https://github.com/tollgate',
    });
  });
});
