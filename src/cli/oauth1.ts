/**
 * `tollgate oauth1 setup`: the OAuth 1.0a three-legged flow (RFC 5849 §2) that turns an application's
 * consumer credentials into token credentials for the `oauth1` policy.
 *
 *   1. temporary credentials: signed POST to the request-token URL with oauth_callback (§2.1)
 *   2. the user opens the authorize URL and approves; the provider shows a verifier (callback "oob") or
 *      redirects to the callback with oauth_verifier (§2.2)
 *   3. token credentials: signed POST to the access-token URL with oauth_verifier (§2.3)
 *
 * Step 2 needs a human. Interactively the command prompts for the verifier; for scripts, a first run that
 * gets no verifier prints the request token, and a second run finishes the flow with
 * --request-token, --request-token-secret and --verifier.
 */
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Option } from 'commander';
import type { Command } from 'commander';
import type * as ClackModule from '@clack/prompts';
import { SIGNATURE_METHODS, signRequest } from '../policies/oauth1/sign.js';
import { EXIT_RUNTIME, EXIT_USAGE } from './common.js';
import { examples } from './help.js';
import type { SignatureMethod } from '../policies/oauth1/sign.js';

const DEFAULT_USER_AGENT = 'Tollgate/0.1 +https://github.com/tollgate';
const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
const PROVIDER_TEXT_MAX = 200;
const SECRETS_FILE_MODE = 0o600;

interface Oauth1ProviderPreset {
  requestTokenUrl: string;
  authorizeUrl: string;
  accessTokenUrl: string;
  identityUrl?: string;
  envPrefix: string;
  /** Environment variables read for the consumer credentials, before OAUTH1_CONSUMER_*. */
  consumerKeyEnv: string;
  consumerSecretEnv: string;
  policyName: string;
}

/** https://www.discogs.com/developers/#page:authentication,header:authentication-oauth-flow */
const OAUTH1_PRESETS: Record<string, Oauth1ProviderPreset> = {
  discogs: {
    requestTokenUrl: 'https://api.discogs.com/oauth/request_token',
    authorizeUrl: 'https://www.discogs.com/oauth/authorize',
    accessTokenUrl: 'https://api.discogs.com/oauth/access_token',
    identityUrl: 'https://api.discogs.com/oauth/identity',
    envPrefix: 'DISCOGS_',
    consumerKeyEnv: 'DISCOGS_CONSUMER_KEY',
    consumerSecretEnv: 'DISCOGS_CONSUMER_SECRET',
    policyName: 'discogs-signing',
  },
};

export interface Oauth1SetupOptions {
  requestTokenUrl: string;
  authorizeUrl: string;
  accessTokenUrl: string;
  /** A signed GET here after the exchange proves the new token works (Discogs: /oauth/identity). */
  identityUrl?: string;
  consumerKey: string;
  consumerSecret: string;
  signatureMethod: SignatureMethod;
  /** oauth_callback: "oob" (the provider shows a code) or a URL it redirects to. */
  callback: string;
  /** The code, or the whole callback URL the browser landed on. */
  verifier?: string;
  /** Resume a flow started earlier: skips step 1. Needs requestTokenSecret too. */
  requestToken?: string;
  requestTokenSecret?: string;
  userAgent: string;
  /** Env variable prefix in the printed lines and config snippet, e.g. DISCOGS_. */
  envPrefix: string;
  /** Merge KEY=value lines into this file (mode 0600) instead of printing the secrets. */
  writeSecrets?: string;
  /** Name of the policy block in the printed config snippet. */
  policyName: string;
}

export interface Oauth1SetupIo {
  prompt(question: string): Promise<string>;
  out(line: string): void;
  /**
   * Set when a person can answer (stdin is a terminal): missing consumer credentials are then asked for,
   * the secret without echo, instead of failing. Scripts (no terminal) keep getting the one-line error.
   */
  ask?: { text(question: string): Promise<string>; secret(question: string): Promise<string> };
}

export interface Oauth1SetupResult {
  token: string;
  tokenSecret: string;
  /** Username reported by the identity URL, when one was checked and named the user. */
  identity?: string;
}

/** A failure the user can act on: printed as one line, never with a stack. */
class Oauth1SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Oauth1SetupError';
  }
}

export async function runOauth1Setup(opts: Oauth1SetupOptions, io: Oauth1SetupIo): Promise<Oauth1SetupResult> {
  const sign = (method: string, url: string, extra: { token?: string; tokenSecret?: string; callback?: string; verifier?: string }): string =>
    signRequest({ method, url, consumerKey: opts.consumerKey, consumerSecret: opts.consumerSecret, signatureMethod: opts.signatureMethod, ...extra });

  let requestToken = opts.requestToken;
  let requestTokenSecret = opts.requestTokenSecret;
  if (requestToken === undefined || requestTokenSecret === undefined) {
    io.out(`Requesting a request token from ${opts.requestTokenUrl} ...`);
    const text = await callProvider('Request token', 'POST', opts.requestTokenUrl, sign('POST', opts.requestTokenUrl, { callback: opts.callback }), opts.userAgent);
    const temp = new URLSearchParams(text);
    requestToken = temp.get('oauth_token') ?? undefined;
    requestTokenSecret = temp.get('oauth_token_secret') ?? undefined;
    if (!requestToken || requestTokenSecret === undefined) {
      throw new Oauth1SetupError(`Request token: the provider's answer has no oauth_token/oauth_token_secret: ${providerText(text)}`);
    }
    if (temp.get('oauth_callback_confirmed') !== 'true') {
      io.out('Warning: the provider did not confirm the callback (oauth_callback_confirmed), as RFC 5849 §2.1 requires.');
    }
    io.out('');
    io.out('Open this URL in a browser, sign in and allow access:');
    io.out(`  ${authorizeUrlFor(opts.authorizeUrl, requestToken)}`);
    io.out('');
  }

  const answer =
    opts.verifier ??
    (await io.prompt(
      opts.callback === 'oob'
        ? 'Paste the verification code the provider shows:'
        : 'Paste the URL your browser was sent to (or just its oauth_verifier):',
    ));
  const verifier = parseVerifier(answer, requestToken);
  if (verifier === '') {
    io.out('No verification code given. To finish later without a prompt (the request token expires soon), run again with:');
    io.out(`  --request-token ${requestToken} --request-token-secret ${requestTokenSecret} --verifier <code>`);
    throw new Oauth1SetupError('No verification code given.');
  }

  const text = await callProvider(
    'Access token',
    'POST',
    opts.accessTokenUrl,
    sign('POST', opts.accessTokenUrl, { token: requestToken, tokenSecret: requestTokenSecret, verifier }),
    opts.userAgent,
  );
  const tokenCreds = new URLSearchParams(text);
  const token = tokenCreds.get('oauth_token');
  const tokenSecret = tokenCreds.get('oauth_token_secret');
  if (!token || tokenSecret === null) {
    throw new Oauth1SetupError(`Access token: the provider's answer has no oauth_token/oauth_token_secret: ${providerText(text)}`);
  }

  const p = opts.envPrefix;
  io.out('');
  if (opts.writeSecrets) {
    const entries: Array<[string, string]> = [
      [`${p}CONSUMER_KEY`, opts.consumerKey],
      [`${p}CONSUMER_SECRET`, opts.consumerSecret],
      [`${p}ACCESS_TOKEN`, token],
      [`${p}ACCESS_SECRET`, tokenSecret],
    ];
    await writeSecretsFile(opts.writeSecrets, entries);
    io.out(`Wrote ${entries.map(([k]) => k).join(', ')} to ${opts.writeSecrets} (mode 0600).`);
  } else {
    io.out('Access granted. Keep these secret (e.g. in the environment of the gateway):');
    io.out(envLine(`${p}ACCESS_TOKEN`, token));
    io.out(envLine(`${p}ACCESS_SECRET`, tokenSecret));
  }

  let identity: string | undefined;
  if (opts.identityUrl) {
    const body = await callProvider('Identity check', 'GET', opts.identityUrl, sign('GET', opts.identityUrl, { token, tokenSecret }), opts.userAgent);
    identity = usernameIn(body);
    io.out(identity ? `Identity check: signed in as ${identity}.` : 'Identity check: the new token works.');
  }

  io.out('');
  io.out('Config (tollgate.yaml):');
  for (const line of configSnippet(opts)) io.out(line);
  return { token, tokenSecret, ...(identity ? { identity } : {}) };
}

/** The flags as commander gives them; see registerOauth1Command. */
export interface Oauth1SetupFlags {
  provider?: string;
  requestTokenUrl?: string;
  authorizeUrl?: string;
  accessTokenUrl?: string;
  identityUrl?: string;
  consumerKey?: string;
  consumerSecret?: string;
  signature?: string;
  callback?: string;
  verifier?: string;
  requestToken?: string;
  requestTokenSecret?: string;
  userAgent?: string;
  writeSecrets?: string;
  envPrefix?: string;
}

/** Flags win over the environment; a preset fills in what the flags leave out. */
export function resolveOauth1SetupOptions(flags: Oauth1SetupFlags, env: NodeJS.ProcessEnv): Oauth1SetupOptions {
  const preset = flags.provider === undefined ? undefined : OAUTH1_PRESETS[flags.provider];
  if (flags.provider !== undefined && !preset) {
    throw new Oauth1SetupError(`Unknown provider "${flags.provider}" (known: ${Object.keys(OAUTH1_PRESETS).join(', ')}).`);
  }
  const pick = (flag: string | undefined, ...envNames: Array<string | undefined>): string | undefined => {
    if (flag) return flag;
    for (const name of envNames) if (name && env[name]) return env[name];
    return undefined;
  };
  const requestTokenUrl = flags.requestTokenUrl ?? preset?.requestTokenUrl;
  const authorizeUrl = flags.authorizeUrl ?? preset?.authorizeUrl;
  const accessTokenUrl = flags.accessTokenUrl ?? preset?.accessTokenUrl;
  const consumerKey = pick(flags.consumerKey, preset?.consumerKeyEnv, 'OAUTH1_CONSUMER_KEY');
  const consumerSecret = pick(flags.consumerSecret, preset?.consumerSecretEnv, 'OAUTH1_CONSUMER_SECRET');

  const missing = [
    !requestTokenUrl && '--request-token-url',
    !authorizeUrl && '--authorize-url',
    !accessTokenUrl && '--access-token-url',
    !consumerKey && `--consumer-key (or ${preset ? `${preset.consumerKeyEnv} / ` : ''}OAUTH1_CONSUMER_KEY)`,
    !consumerSecret && `--consumer-secret (or ${preset ? `${preset.consumerSecretEnv} / ` : ''}OAUTH1_CONSUMER_SECRET)`,
  ].filter((m): m is string => typeof m === 'string');
  if (missing.length > 0 || !requestTokenUrl || !authorizeUrl || !accessTokenUrl || !consumerKey || !consumerSecret) {
    const hint = !requestTokenUrl || !authorizeUrl || !accessTokenUrl ? ' Use --provider discogs or give the URLs.' : '';
    throw new Oauth1SetupError(`Missing ${missing.join(', ')}.${hint}`);
  }
  for (const [flag, url] of [['--request-token-url', requestTokenUrl], ['--authorize-url', authorizeUrl], ['--access-token-url', accessTokenUrl], ['--identity-url', flags.identityUrl]] as const) {
    if (url !== undefined && !URL.canParse(url)) throw new Oauth1SetupError(`${flag} is not an absolute URL: ${url}`);
  }
  if ((flags.requestToken === undefined) !== (flags.requestTokenSecret === undefined)) {
    throw new Oauth1SetupError('--request-token and --request-token-secret go together.');
  }
  if (flags.verifier !== undefined && flags.requestToken === undefined) {
    throw new Oauth1SetupError('--verifier belongs to a request token: give --request-token and --request-token-secret from the run that printed it.');
  }
  const signatureMethod = (flags.signature ?? 'HMAC-SHA1') as SignatureMethod;
  if (!SIGNATURE_METHODS.includes(signatureMethod)) {
    throw new Oauth1SetupError(`--signature must be one of ${SIGNATURE_METHODS.join(', ')}.`);
  }
  const envPrefix = flags.envPrefix ?? preset?.envPrefix ?? 'OAUTH1_';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(envPrefix)) throw new Oauth1SetupError(`--env-prefix must be a valid variable name prefix: ${envPrefix}`);

  return {
    requestTokenUrl,
    authorizeUrl,
    accessTokenUrl,
    ...(flags.identityUrl ?? preset?.identityUrl ? { identityUrl: flags.identityUrl ?? preset?.identityUrl } : {}),
    consumerKey,
    consumerSecret,
    signatureMethod,
    callback: flags.callback ?? 'oob',
    ...(flags.verifier !== undefined ? { verifier: flags.verifier } : {}),
    ...(flags.requestToken !== undefined ? { requestToken: flags.requestToken, requestTokenSecret: flags.requestTokenSecret } : {}),
    userAgent: flags.userAgent ?? DEFAULT_USER_AGENT,
    envPrefix,
    ...(flags.writeSecrets ? { writeSecrets: flags.writeSecrets } : {}),
    policyName: preset?.policyName ?? 'oauth1-signing',
  };
}

export interface Oauth1CommandDeps {
  io?: Oauth1SetupIo & { err(line: string): void };
  env?: NodeJS.ProcessEnv;
}

export function registerOauth1Command(program: Command, deps: Oauth1CommandDeps = {}): void {
  const io = deps.io ?? terminalIo();
  const oauth1 = examples(
    program.command('oauth1').description('OAuth 1.0a helpers (RFC 5849).'),
    'tollgate oauth1 setup --provider discogs                     # asks for the consumer key and secret',
    'tollgate oauth1 setup --provider discogs --write-secrets .env',
  );
  examples(
    oauth1.command('setup'),
    'tollgate oauth1 setup --provider discogs      # on a terminal: asks for key, secret (hidden) and the code',
    'DISCOGS_CONSUMER_KEY=… DISCOGS_CONSUMER_SECRET=… tollgate oauth1 setup --provider discogs --write-secrets .env',
    'tollgate oauth1 setup --request-token-url https://api.example.com/oauth/request_token \\\n' +
      '      --authorize-url https://example.com/oauth/authorize --access-token-url https://api.example.com/oauth/access_token \\\n' +
      '      --callback http://127.0.0.1:9999/cb --env-prefix EXAMPLE_',
    'tollgate oauth1 setup --provider discogs --request-token T --request-token-secret S --verifier CODE   # finish a scripted run',
  )
    .description('Get token credentials for the oauth1 policy through the three-legged flow (e.g. for Discogs).')
    .addOption(new Option('--provider <name>', 'preset URLs and env names').choices(Object.keys(OAUTH1_PRESETS)))
    .option('--request-token-url <url>', 'temporary credentials endpoint (overrides the preset)')
    .option('--authorize-url <url>', 'resource owner authorization page (overrides the preset)')
    .option('--access-token-url <url>', 'token credentials endpoint (overrides the preset)')
    .option('--identity-url <url>', 'a signed GET here checks the new token (discogs: /oauth/identity)')
    .option('--consumer-key <key>', 'consumer key (env: DISCOGS_CONSUMER_KEY with --provider discogs, OAUTH1_CONSUMER_KEY)')
    .option('--consumer-secret <secret>', 'consumer secret; prefer the env (DISCOGS_CONSUMER_SECRET, OAUTH1_CONSUMER_SECRET): flags end up in shell history')
    .addOption(new Option('--signature <method>', 'signature method').choices(SIGNATURE_METHODS).default('HMAC-SHA1'))
    .option('--callback <url>', 'oauth_callback: "oob" to get a code to paste, or a URL to be redirected to', 'oob')
    .option('--verifier <code>', 'the verification code, or the callback URL holding oauth_verifier (with --request-token)')
    .option('--request-token <token>', 'finish a flow an earlier run started')
    .option('--request-token-secret <secret>', 'the request token secret printed by that run')
    .option('--user-agent <ua>', 'User-Agent sent to the provider (Discogs requires one)', DEFAULT_USER_AGENT)
    .option('--write-secrets <file>', 'merge KEY=value lines into this env file (mode 0600) instead of printing them')
    .option('--env-prefix <prefix>', 'prefix of the variable names (default: DISCOGS_ with the preset, OAUTH1_ otherwise)')
    .action(async (flags: Oauth1SetupFlags) => {
      let usage = true;
      try {
        const env = deps.env ?? process.env;
        const options = resolveOauth1SetupOptions(await askForConsumer(flags, env, io), env);
        usage = false;
        await runOauth1Setup(options, io);
      } catch (err) {
        // A provider refusal or a usage mistake is the user's to fix: one readable line, no stack.
        // Missing or contradicting flags are usage errors (exit 2, like every verb); a failed flow exits 1.
        io.err(`error: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = usage ? EXIT_USAGE : EXIT_RUNTIME;
      }
    });
}

/**
 * On a terminal, asks for the consumer key and secret the flags and environment left out (the secret with
 * a masked, never echoed, input), so `tollgate oauth1 setup --provider discogs` is all a person types.
 */
export async function askForConsumer(flags: Oauth1SetupFlags, env: NodeJS.ProcessEnv, io: Oauth1SetupIo): Promise<Oauth1SetupFlags> {
  const preset = flags.provider === undefined ? undefined : OAUTH1_PRESETS[flags.provider];
  // Without endpoints the run fails anyway: say that first rather than ask for secrets to no end.
  const endpoints = [flags.requestTokenUrl ?? preset?.requestTokenUrl, flags.authorizeUrl ?? preset?.authorizeUrl, flags.accessTokenUrl ?? preset?.accessTokenUrl];
  if (!io.ask || endpoints.some((u) => !u)) return flags;
  const given = (flag: string | undefined, envName: string | undefined, fallbackEnv: string) => Boolean(flag || (envName && env[envName]) || env[fallbackEnv]);
  const out = { ...flags };
  const where = preset ? ` (from ${provider(flags.provider!)})` : '';
  if (!given(flags.consumerKey, preset?.consumerKeyEnv, 'OAUTH1_CONSUMER_KEY')) {
    out.consumerKey = (await io.ask.text(`Consumer key${where}:`)).trim() || undefined;
  }
  if (!given(flags.consumerSecret, preset?.consumerSecretEnv, 'OAUTH1_CONSUMER_SECRET')) {
    out.consumerSecret = (await io.ask.secret('Consumer secret (not shown):')).trim() || undefined;
  }
  return out;
}

function provider(name: string): string {
  return name === 'discogs' ? 'https://www.discogs.com/settings/developers' : name;
}

type ClackPrompts = typeof ClackModule;

/** Prompts with @clack/prompts on a terminal; reads one line from stdin when piped (EOF: empty answer). */
function terminalIo(): Oauth1SetupIo & { err(line: string): void } {
  const clack = async <T>(ask: (p: ClackPrompts) => Promise<T | symbol>): Promise<T> => {
    const prompts = await import('@clack/prompts');
    const answer = await ask(prompts);
    if (prompts.isCancel(answer)) throw new Oauth1SetupError('Cancelled.');
    return answer as T;
  };
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    ...(process.stdin.isTTY
      ? { ask: { text: (message: string) => clack<string>((p) => p.text({ message })), secret: (message: string) => clack<string>((p) => p.password({ message })) } }
      : {}),
    async prompt(question) {
      if (process.stdin.isTTY) {
        const { text, isCancel } = await import('@clack/prompts');
        const answer = await text({ message: question });
        if (isCancel(answer)) throw new Oauth1SetupError('Cancelled.');
        return answer;
      }
      process.stderr.write(`${question}\n`);
      return new Promise<string>((resolve) => {
        const rl = createInterface({ input: process.stdin });
        let answered = false;
        rl.once('line', (line) => {
          answered = true;
          resolve(line);
          rl.close();
        });
        rl.once('close', () => {
          if (!answered) resolve('');
        });
      });
    },
  };
}

async function callProvider(step: string, method: 'GET' | 'POST', url: string, authorization: string, userAgent: string): Promise<string> {
  const headers: Record<string, string> = { authorization, 'user-agent': userAgent };
  // Discogs asks for the form content type on the token requests, whose body is empty.
  if (method === 'POST') headers['content-type'] = FORM_CONTENT_TYPE;
  let res;
  try {
    // undici loads here: the other verbs (and --help) do not pay for it.
    const { request } = await import('undici');
    res = await request(url, { method, headers, ...(method === 'POST' ? { body: '' } : {}) });
  } catch (err) {
    throw new Oauth1SetupError(`${step}: could not reach ${new URL(url).origin}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) {
    throw new Oauth1SetupError(`${step} refused: ${url} answered ${res.statusCode}: ${providerText(text)}`);
  }
  return text;
}

/** The provider's message, on one line and short: enough to act on, not a page of HTML. */
function providerText(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > PROVIDER_TEXT_MAX ? `${flat.slice(0, PROVIDER_TEXT_MAX)}…` : flat;
}

function authorizeUrlFor(authorizeUrl: string, requestToken: string): string {
  const url = new URL(authorizeUrl);
  url.searchParams.set('oauth_token', requestToken);
  return url.href;
}

/** Accepts the bare code, or the callback URL (or its query) carrying oauth_verifier (RFC 5849 §2.2). */
function parseVerifier(answer: string, requestToken: string): string {
  const trimmed = answer.trim();
  if (!/[?&]?(oauth_verifier|denied)=/.test(trimmed)) return trimmed;
  const query = trimmed.includes('?') ? trimmed.slice(trimmed.indexOf('?') + 1).split('#')[0] : trimmed;
  const params = new URLSearchParams(query);
  if (params.has('denied')) throw new Oauth1SetupError('Access was denied on the authorize page.');
  const token = params.get('oauth_token');
  if (token !== null && token !== requestToken) {
    throw new Oauth1SetupError(`That URL belongs to another request token (${token}); paste the one from this run.`);
  }
  return params.get('oauth_verifier')?.trim() ?? '';
}

function usernameIn(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && 'username' in parsed && typeof parsed.username === 'string') return parsed.username;
  } catch {
    // Not JSON: the 2xx alone says the token works.
  }
  return undefined;
}

/** Quoted only when needed, so the line works in a shell, systemd EnvironmentFile and dotenv alike. */
function envLine(name: string, value: string): string {
  return /^[A-Za-z0-9._~+/=:@-]*$/.test(value) ? `${name}=${value}` : `${name}=${JSON.stringify(value)}`;
}

function configSnippet(opts: Oauth1SetupOptions): string[] {
  const p = opts.envPrefix;
  return [
    'policies:',
    `  ${opts.policyName}:`,
    '    oauth1:',
    `      consumerKey: "\${${p}CONSUMER_KEY}"`,
    `      consumerSecret: "\${${p}CONSUMER_SECRET}"`,
    `      token: "\${${p}ACCESS_TOKEN}"`,
    `      tokenSecret: "\${${p}ACCESS_SECRET}"`,
    `      signature: ${opts.signatureMethod}`,
  ];
}

/** Replaces our keys in an existing env file and keeps the rest; written via rename so it is never half-written. */
async function writeSecretsFile(file: string, entries: Array<[string, string]>): Promise<void> {
  let existing = '';
  try {
    existing = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Oauth1SetupError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  const ours = new Set(entries.map(([name]) => name));
  const kept = existing.split(/\r?\n/).filter((line) => {
    const name = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    return line.trim() !== '' && !(name && ours.has(name));
  });
  const content = [...kept, ...entries.map(([name, value]) => envLine(name, value))].join('\n') + '\n';
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, content, { mode: SECRETS_FILE_MODE });
    await chmod(tmp, SECRETS_FILE_MODE);
    await rename(tmp, file);
  } catch (err) {
    throw new Oauth1SetupError(`Cannot write ${file}: ${(err as Error).message}`);
  }
}
