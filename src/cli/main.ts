/** The `tollgate` command. One file per verb; each registers itself here. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE } from './common.js';
import { registerCache } from './cache.js';
import { registerCheck } from './check.js';
import { registerDemo } from './demo.js';
import { registerInit } from './init.js';
import { registerOauth1Command } from './oauth1.js';
import { registerStart } from './start.js';
import { registerSync } from './sync.js';
import { registerApps } from './apps.js';
import { registerKeys } from './keys.js';
import { registerClients } from './clients.js';
import { registerPlans } from './plans.js';
import { registerServices } from './services.js';
import { registerUsers } from './users.js';
import { registerMigrate, registerUsage } from './usage.js';
import { registerLoadData } from './load-data.js';

export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('tollgate')
    .description('Tollgate: an API gateway (credentials, caching, keys and limits) from one config file.')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  registerDemo(program);
  registerInit(program);
  registerCheck(program);
  registerStart(program);
  registerCache(program);
  registerOauth1Command(program);
  registerServices(program);
  registerPlans(program);
  registerApps(program);
  registerKeys(program);
  registerClients(program);
  registerUsers(program);
  registerUsage(program);
  registerMigrate(program);
  registerSync(program);
  registerLoadData(program);
  program.addHelpText(
    'after',
    `
Examples:
  $ tollgate demo                       # a gateway and a demo upstream, with curl lines to try
  $ tollgate init && tollgate check     # write and validate a starter tollgate.yaml
  $ tollgate start -c tollgate.yaml     # serve it`,
  );
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `tollgate … | head`: the reader left; stop quietly as other Unix tools do instead of a stack trace.
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw e;
  }
}
