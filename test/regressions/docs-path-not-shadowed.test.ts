/** `tollgate check` names a route that would take the public docs' paths (docs.public), with file and line. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('tollgate check and the public docs path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-docs-'));

  it('reports the route that would shadow the docs path', async () => {
    const file = join(dir, 'shadow.yaml');
    writeFileSync(file, 'docs: { public: true, path: /docs }\nroutes:\n  - name: pages\n    match: { pattern: "/:page/*" }\n    respond: {}\n');
    const r = await runCli(['check', '-c', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:4: routes[0].match: matches /docs, where the API docs are served`);
  });

  it('lists the docs route first when nothing shadows it', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'docs: { public: true, path: /api-docs }\nroutes:\n  - { name: all, match: { prefix: / }, respond: {} }\n');
    const r = await runCli(['check', '-c', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1. docs: path /api-docs, /api-docs/openapi.json and /api-docs/assets/*, GET,HEAD -> API docs (docs.public)');
    expect(r.stdout).toContain('2. all: prefix /');
  });
});
