/** A bad flag value is a usage error: one line on stderr (no stack trace), exit 2. Through the compiled binary. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('bad flag values are usage errors', () => {
  for (const [verb, flag, value] of [
    ['start', '--port', 'abc'],
    ['start', '--port', '70000'],
    ['start', '--port', '-1'],
    ['start', '--admin-port', '1.5'],
    ['demo', '--port', '8080x'],
  ] as const) {
    it(`${verb} ${flag} ${value}: one line, exit 2`, async () => {
      const r = await runCli([verb, `${flag}=${value}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`error: ${flag}: expected a port number 0-65535, got ${JSON.stringify(value)}\n`);
      expect(r.stdout).toBe('');
    });
  }

  it('oauth1 setup with missing flags exits 2 with one line', async () => {
    const r = await runCli(['oauth1', 'setup', '--request-token-url', 'not a url'], { env: { OAUTH1_CONSUMER_KEY: 'k', OAUTH1_CONSUMER_SECRET: 's' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: Missing --authorize-url, --access-token-url/);
  });
});
