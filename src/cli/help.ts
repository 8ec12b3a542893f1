/** The "Examples:" section that ends every command's and group's --help. */
import type { Command } from 'commander';

/** Adds command lines (without the `$ `; a trailing `# comment` is fine) under "Examples:" in `--help`. */
export function examples<C extends Command>(cmd: C, ...lines: string[]): C {
  cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
  return cmd;
}
