/**
 * Every group and every verb ends its --help with an "Examples:" section of real command lines.
 * Groups through the built binary, as a user types them; every verb in-process, walking the command tree.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { runCli } from '../helpers/cli.js';

const GROUPS = ['oauth1', 'services', 'apps', 'keys', 'clients', 'plans', 'users', 'cache', 'migrate'];

/** Paths of every command below the program, e.g. ['apps', 'create']. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

async function helpOf(path: string[]): Promise<string> {
  const program = await buildProgram();
  let out = '';
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program)) c.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  await program.parseAsync(['node', 'tollgate', ...path, '--help']).catch(() => undefined);
  return out;
}

describe('--help shows examples', () => {
  it.each(GROUPS)('tollgate %s --help', async (group) => {
    const r = await runCli([group, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\nExamples:\\n  \\$ .*tollgate ${group}\\b`));
  });

  it('every verb, and the program itself', async () => {
    const paths = commandPaths(await buildProgram());
    expect(paths.length).toBeGreaterThan(25);
    const missing: string[] = [];
    for (const path of [[], ...paths]) {
      const help = await helpOf(path);
      if (!/\nExamples:\n {2}\$ \S/.test(help)) missing.push(path.join(' ') || '(tollgate)');
      else if (path.length && !help.includes(`tollgate ${path.join(' ')}`)) missing.push(`${path.join(' ')} (no example of itself)`);
    }
    expect(missing).toEqual([]);
  });
});
