/**
 * `tollgate check` reports every problem of a config in one run: schema errors, unknown upstream and policy
 * references, and policy option errors found when the policy is created (bad regex, bad header name), each
 * as FILE:LINE: key.path: message. Through the compiled binary.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-check-all-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tollgate check', () => {
  it('reports schema, reference and policy option problems together, each with file, line and key path', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'listen:',
        '  port: -1', // 2: schema
        'upstreams:',
        '  app: { url: "http://127.0.0.1:9" }',
        'policies:',
        '  strict-errors:',
        '    map-errors: { rules: [{ when: { bodyMatches: "([" }, respond: { status: 502 } }] }', // 7: option (regex), used twice
        'routes:',
        '  - match: { prefix: /a/ }',
        '    upstream: missing', // 10: reference
        '    policies: [strict-errors]',
        '  - match: { prefix: /b/ }',
        '    upstream: app',
        '    policies:',
        '      - strict-errors',
        '      - nosuch', // 16: unknown policy
        '      - transform: { headers: { set: { "bad name": x } } }', // 17: option (header name)
        '  - match: { prefix: /c/ }',
        '    upstream: app',
        '    stripPrefx: true', // 20: schema in a route
        '',
      ].join('\n'),
    );
    const r = await runCli(['check', '-c', file]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('config errors (6):');
    expect(r.stderr).toContain(`${file}:2: listen.port: Too small: expected number to be >=0`);
    expect(r.stderr).toContain(`${file}:20: routes[2]: unknown key "stripPrefx"`);
    expect(r.stderr).toContain(`${file}:10: routes[0].upstream: unknown upstream "missing"`);
    expect(r.stderr).toContain(`${file}:16: routes[1].policies[1]: unknown policy "nosuch"`);
    expect(r.stderr).toMatch(new RegExp(`${file}:7: policies\\.strict-errors\\.map-errors: map-errors: rule 1: bodyMatches is not a valid regular expression`));
    expect(r.stderr).toMatch(new RegExp(`${file}:17: routes\\[1\\]\\.policies\\[2\\]\\.transform: transform: "bad name" is not a valid header name`));
  });

  it('a oneOf with no alternative that applies is one problem, not a second one about its empty block', async () => {
    const r = await runCli(['check', '-c', 'examples/discogs.yaml'], { env: { PATH: process.env.PATH } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      'config error:',
      expect.stringMatching(/^ {2}examples\/discogs\.yaml:\d+: policies\.discogs-auth\.oneOf: no alternative applies: set DISCOGS_TOKEN, or all of /),
    ]);
  });

  it('a valid config still checks ok', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'upstreams:\n  app: { url: "http://127.0.0.1:9" }\nroutes:\n  - match: { prefix: / }\n    upstream: app\n');
    const r = await runCli(['check', '-c', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
