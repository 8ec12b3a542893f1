/**
 * `tollgate oauth1 setup` on a terminal without --consumer-key/--consumer-secret asks for them (the secret
 * masked, never echoed) instead of failing. Run through the built binary on a real pseudo-terminal made by
 * util-linux `script`, against the fake provider (which verifies every signature itself).
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeOauth1Provider } from '../fixtures/fake-oauth1-provider.js';
import type { FakeOauth1Provider } from '../fixtures/fake-oauth1-provider.js';

const BIN = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));
const CONSUMER_SECRET = 'Sup3r-S3cret-Consumer-Value';
const hasScript = spawnSync('script', ['--version']).status === 0;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

let provider: FakeOauth1Provider;
beforeEach(async () => {
  provider = await startFakeOauth1Provider({ consumerKey: 'my-consumer-key', consumerSecret: CONSUMER_SECRET, username: 'vinyl_fan' });
});
afterEach(() => provider.close());

interface Step {
  /** Text that shows the prompt is waiting. */
  when: RegExp;
  /** What the person types (Enter is added). */
  type: (screen: string) => string;
}

/** Runs the command on a pseudo-terminal, typing each answer once its prompt shows; resolves on exit. */
function onTerminal(args: string[], steps: Step[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; screen: string }> {
  const quoted = ['node', BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // `script` gives the pty the size of its own stdin, a pipe here (0x0): set one, or every character wraps.
  const child = spawn('script', ['-qefc', `stty cols 200 rows 50; exec ${quoted}`, '/dev/null'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm-256color', COLUMNS: '200', LINES: '50', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let raw = '';
  let next = 0;
  const onData = (d: Buffer) => {
    raw += d.toString();
    const screen = raw.replace(ANSI, '');
    while (next < steps.length && steps[next].when.test(screen)) {
      const answer = steps[next++].type(screen);
      // A beat after the prompt draws, as a person would: the prompt has switched the terminal to raw mode.
      setTimeout(() => child.stdin.write(`${answer}\r`), 50);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen: raw.replace(ANSI, '') });
    });
  });
}

describe.skipIf(!hasScript)('tollgate oauth1 setup on a terminal', () => {
  it('asks for the consumer key and secret (the secret not shown), then runs the flow the provider accepts', async () => {
    const args = [
      'oauth1', 'setup', '--provider', 'discogs',
      '--request-token-url', `${provider.url}/oauth/request_token`,
      '--authorize-url', `${provider.url}/oauth/authorize`,
      '--access-token-url', `${provider.url}/oauth/access_token`,
      '--identity-url', `${provider.url}/oauth/identity`,
    ];
    const { code, screen } = await onTerminal(args, [
      { when: /Consumer key/, type: () => 'my-consumer-key' },
      { when: /Consumer secret/, type: () => CONSUMER_SECRET },
      {
        when: /Paste the verification code/,
        type: (s) => provider.approve(new URL(/(http:\/\/\S+\/oauth\/authorize\?\S+)/.exec(s)![1]).searchParams.get('oauth_token')!),
      },
    ]);
    expect(screen, screen).toMatch(/DISCOGS_ACCESS_TOKEN=\w+/);
    expect(screen).toMatch(/Identity check: signed in as vinyl_fan\./);
    expect(code, screen).toBe(0);
    expect(screen).not.toContain(CONSUMER_SECRET);
    expect(provider.rejections).toEqual([]);
  });

  it('without a terminal it still fails at once with one line naming the flags (scripts never hang on a prompt)', () => {
    const r = spawnSync('node', [BIN, 'oauth1', 'setup', '--provider', 'discogs'], { env: { PATH: process.env.PATH }, input: '', encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toMatch(/^error: Missing --consumer-key \(or DISCOGS_CONSUMER_KEY \/ OAUTH1_CONSUMER_KEY\), --consumer-secret/);
    expect(r.status).not.toBe(0);
  });
});
