import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { compileConfig } from '../src/config/compile.js';
import { ConfigError, formatProblem, parseConfig } from '../src/config/load.js';

const log = pino({ level: 'silent' });

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'gw.yaml', env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  return [];
}

describe('config loading', () => {
  it('fills defaults for an empty file: the embedded single-machine setup', () => {
    const { config } = parseConfig('', 'gw.yaml', {});
    expect(config.listen.port).toBe(8080);
    expect(config.admin.host).toBe('127.0.0.1');
    expect(config.store).toBe('sqlite:./tollgate.db');
    expect(config.redis).toEqual({ url: '', timeout: 250 });
  });

  it('takes redis as a URL or as { url, timeout }, and names what is wrong in either', () => {
    expect(parseConfig('redis: "redis://127.0.0.1:6379"', 'gw.yaml', {}).config.redis).toEqual({ url: 'redis://127.0.0.1:6379', timeout: 250 });
    expect(parseConfig('redis: { url: "redis://r:6379", timeout: 100ms }', 'gw.yaml', {}).config.redis).toEqual({ url: 'redis://r:6379', timeout: 100 });
    expect(problems('redis: { url: "redis://r", timeout: soon }')).toEqual([expect.stringMatching(/^gw\.yaml:1: redis: timeout: expected a duration like "250ms"/)]);
    expect(problems('redis: 5')).toEqual(['gw.yaml:1: redis: expected a Redis URL (redis://host:port) or { url, timeout }']);
  });

  it('parses durations and sizes', () => {
    const { config } = parseConfig(
      `upstreams: { a: { url: "http://x", timeouts: { connect: 250ms, headers: 2m } } }\nroutes: [{ match: { prefix: / }, upstream: a, maxBodySize: 1MiB }]`,
      'gw.yaml',
      {},
    );
    expect(config.upstreams.a.timeouts.connect).toBe(250);
    expect(config.upstreams.a.timeouts.headers).toBe(120_000);
    expect(config.upstreams.a.timeouts.body).toBe(120_000);
    expect(config.routes[0].maxBodySize).toBe(1024 * 1024);
  });

  it('substitutes ${NAME}, ${NAME:-default} and coerces substituted numbers where the schema wants one', () => {
    const { config } = parseConfig(
      `listen: { port: "\${PORT}" }\nupstreams: { a: { url: "\${UP:-http://fallback:1}" } }\nroutes: [{ match: { path: /h }, respond: { headers: { x-v: "\${V}" } } }]`,
      'gw.yaml',
      { PORT: '9999', V: '2' },
    );
    expect(config.listen.port).toBe(9999);
    expect(config.upstreams.a.url).toBe('http://fallback:1');
    expect(config.routes[0].respond?.headers['x-v']).toBe('2');
  });

  it('names the missing variable, the file, the line and the key', () => {
    const out = problems(`listen:\n  port: 1\nupstreams:\n  a:\n    url: "\${NOT_SET_ANYWHERE}"\n`);
    expect(out).toEqual(['gw.yaml:5: upstreams.a.url: environment variable NOT_SET_ANYWHERE is not set (write ${NOT_SET_ANYWHERE:-default} to give a default)']);
  });

  it('reports every problem at once with line numbers and what was expected', () => {
    const out = problems(`listen:\n  port: eighty\n  colour: blue\nroutes:\n  - match: { prefix: /a, path: /b }\n    upstream: x\n`);
    expect(out).toHaveLength(3);
    expect(out[0]).toMatch(/^gw\.yaml:2: listen\.port: expected number/);
    expect(out[1]).toBe('gw.yaml:3: listen: unknown key "colour"');
    expect(out[2]).toMatch(/^gw\.yaml:5: routes\[0\]\.match: expected exactly one of prefix, path or pattern/);
  });

  it('reads secrets from files and marks them secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-cfg-'));
    writeFileSync(join(dir, 'token'), 's3cr3t-from-file\n');
    const loaded = parseConfig(`routes: [{ match: { path: /h }, respond: { body: "\${file:token}" } }]`, join(dir, 'gw.yaml'), {});
    expect(loaded.config.routes[0].respond?.body).toBe('s3cr3t-from-file');
    expect(loaded.secrets.has('s3cr3t-from-file')).toBe(true);
  });

  it('marks values of secret-looking environment variables secret, and leaves others alone', () => {
    const loaded = parseConfig(`publicUrl: "\${PUBLIC_URL}"\nredis: "\${MY_TOKEN}"`, 'gw.yaml', { PUBLIC_URL: 'http://gw', MY_TOKEN: 'tok-123456' });
    expect([...loaded.secrets]).toEqual(['tok-123456']);
  });

  it('rejects YAML syntax errors with a line', () => {
    const out = problems('listen: { port: 1\nroutes: [');
    expect(out[0]).toMatch(/^gw\.yaml:\d+: \(top level\): not valid YAML\/JSON/);
  });

  it('accepts JSON too', () => {
    const { config } = parseConfig('{"listen": {"port": 1234}}', 'gw.json', {});
    expect(config.listen.port).toBe(1234);
  });
});

describe('config compile checks', () => {
  async function compileProblems(text: string): Promise<string[]> {
    try {
      const snap = await compileConfig(parseConfig(text, 'gw.yaml', {}), { log });
      await snap.retire(undefined);
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map(formatProblem);
      throw e;
    }
    return [];
  }

  it('points at an unknown upstream and an unknown policy', async () => {
    const out = await compileProblems(`upstreams: { app: { url: "http://127.0.0.1:1" } }\nroutes:\n  - match: { prefix: / }\n    upstream: nope\n    policies: [does-not-exist]\n`);
    expect(out).toEqual([
      'gw.yaml:4: routes[0].upstream: unknown upstream "nope": expected one of app',
      expect.stringMatching(/^gw\.yaml:5: routes\[0\]\.policies\[0\]: unknown policy "does-not-exist"/),
    ]);
  });

  it('validates policy options with the policy schema, with the key path', async () => {
    const out = await compileProblems(`routes:\n  - match: { path: /x }\n    respond: { status: 200 }\n    policies:\n      - custom: { modul: ./x.js }\n`);
    expect(out.join('\n')).toMatch(/routes\[0\]\.policies\[0\]\.custom/);
  });

  it('rejects a bad trusted proxy entry', async () => {
    const out = await compileProblems(`listen: { trustedProxies: [10.0.0.0/8, not-an-ip] }`);
    expect(out).toEqual(['gw.yaml:1: listen.trustedProxies[1]: expected an IP address or CIDR range, got "not-an-ip"']);
  });
});

describe('config problems in shared blocks', () => {
  it('reports a problem in a named policy block once, however many routes use it', async () => {
    const text = `policies:\n  sign:\n    custom: { modul: x }\nroutes:\n  - { match: { path: /a }, respond: { status: 200 }, policies: [sign] }\n  - { match: { path: /b }, respond: { status: 200 }, policies: [sign] }\n`;
    const err = await compileConfig(parseConfig(text, 'gw.yaml', {}), { log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as ConfigError).problems.map(formatProblem);
    expect(lines).toEqual([...new Set(lines)]);
    expect(lines.some((l) => l.startsWith('gw.yaml:3: policies.sign.custom'))).toBe(true);
  });
});

describe('choosing policy blocks by environment (oneOf / when)', () => {
  const AUTH = [
    'upstreams: { api: { url: "http://127.0.0.1:1" } }',
    'policies:',
    '  api-auth:',
    '    oneOf:',
    '      - when: { env: API_TOKEN }',
    '        credentials: { bearer: "${API_TOKEN}" }',
    '      - when: { env: [API_KEY, API_SECRET] }',
    '        credentials:',
    '          basic: { username: "${API_KEY}", password: "${API_SECRET}" }',
    'routes:',
    '  - match: { prefix: / }',
    '    upstream: api',
    '    policies: [api-auth]',
    '',
  ].join('\n');

  it('uses the one alternative whose variables are set; the other is neither substituted nor checked', () => {
    const token = parseConfig(AUTH, 'gw.yaml', { API_TOKEN: 'tok-123456789' });
    expect(token.config.policies['api-auth']).toEqual({ credentials: { bearer: 'tok-123456789' } });
    const basic = parseConfig(AUTH, 'gw.yaml', { API_KEY: 'k', API_SECRET: 's' });
    expect(basic.config.policies['api-auth']).toEqual({ credentials: { basic: { username: 'k', password: 's' } } });
  });

  it('both or neither: one problem at the oneOf line that names the variables', () => {
    expect(problems(AUTH, { API_TOKEN: 't', API_KEY: 'k', API_SECRET: 's' })).toEqual([
      'gw.yaml:4: policies.api-auth.oneOf: variables of more than one alternative are set, (API_TOKEN) and (API_KEY, API_SECRET): set only API_TOKEN, or all of API_KEY, API_SECRET',
    ]);
    expect(problems(AUTH, { API_TOKEN: 't', API_SECRET: 's' })).toHaveLength(1);
    expect(problems(AUTH, {})).toEqual(['gw.yaml:4: policies.api-auth.oneOf: no alternative applies: set API_TOKEN, or all of API_KEY, API_SECRET']);
    // An empty variable counts as unset, as with ${NAME:-default}.
    expect(problems(AUTH, { API_TOKEN: '', API_KEY: 'k' })).toEqual([
      'gw.yaml:4: policies.api-auth.oneOf: no alternative applies: set API_TOKEN, or all of API_KEY, API_SECRET (API_SECRET is not set)',
    ]);
  });

  it('problems inside the chosen alternative point at its own lines', async () => {
    const text = AUTH.replace('credentials: { bearer: "${API_TOKEN}" }', 'credentials: { bearer: "${API_TOKEN}", colour: blue }');
    const err = await compileConfig(parseConfig(text, 'gw.yaml', { API_TOKEN: 't' }), { log }).catch((e: unknown) => e);
    expect((err as ConfigError).problems.map(formatProblem)).toEqual(['gw.yaml:6: policies.api-auth.credentials: unknown key "colour"']);
  });

  it('an alternative without when is the fallback; a route list entry with when is dropped unless its variables are set', async () => {
    const text = [
      'upstreams: { api: { url: "http://127.0.0.1:1" } }',
      'routes:',
      '  - match: { prefix: / }',
      '    upstream: api',
      '    policies:',
      '      - when: { env: CACHE_DIR }',
      '        cache: { store: disk, dir: "${CACHE_DIR}" }',
      '      - oneOf:',
      '          - when: { env: API_TOKEN }',
      '            credentials: { bearer: "${API_TOKEN}" }',
      '          - credentials: { userAgent: anonymous/1 }',
      '      - rewrite-urls: { colour: blue }',
      '',
    ].join('\n');
    const plain = parseConfig(text.replace('colour: blue', ''), 'gw.yaml', {});
    expect(plain.config.routes[0].policies).toEqual([{ credentials: { userAgent: 'anonymous/1' } }, { 'rewrite-urls': {} }]);
    const cached = parseConfig(text.replace('colour: blue', ''), 'gw.yaml', { CACHE_DIR: '/tmp/c', API_TOKEN: 't' });
    expect(cached.config.routes[0].policies).toEqual([{ cache: { store: 'disk', dir: '/tmp/c' } }, { credentials: { bearer: 't' } }, { 'rewrite-urls': {} }]);
    // Entries after a dropped one keep their own line in messages.
    const err = await compileConfig(parseConfig(text, 'gw.yaml', {}), { log }).catch((e: unknown) => e);
    expect((err as ConfigError).problems.map(formatProblem)).toEqual(['gw.yaml:12: routes[0].policies[1].rewrite-urls: unknown key "colour"']);
  });

  it('a malformed when or oneOf names its line and what is expected', () => {
    expect(problems(AUTH.replace('when: { env: API_TOKEN }', 'when: { env: "not a name" }'), { API_TOKEN: 't' })).toEqual([
      'gw.yaml:5: policies.api-auth.oneOf[0].when: expected { env: NAME } or { env: [NAME, …] } (environment variable names; the condition holds when all are set and not empty)',
    ]);
    expect(problems('policies:\n  x:\n    oneOf: { when: { env: A } }\n')).toEqual([
      'gw.yaml:3: policies.x.oneOf: expected a list of at least two alternatives, each { when: { env: NAME }, <policy>: { options } }',
    ]);
  });
});
