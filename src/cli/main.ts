/** The `tollgate` command. One file per verb; each registers itself here. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE } from './common.js';

type Register = (program: Command) => void;

/**
 * The verbs in help order, each with the module that registers it. Only the module of the verb being run is
 * loaded (`start` does not load the store, the admin client or the other verbs), none for `--version`; help
 * and an unknown verb load them all.
 */
const VERBS: readonly (readonly [verb: string, load: () => Promise<Register>])[] = [
  ['demo', async () => (await import('./demo.js')).registerDemo],
  ['init', async () => (await import('./init.js')).registerInit],
  ['check', async () => (await import('./check.js')).registerCheck],
  ['start', async () => (await import('./start.js')).registerStart],
  ['cache', async () => (await import('./cache.js')).registerCache],
  ['oauth1', async () => (await import('./oauth1.js')).registerOauth1Command],
  ['services', async () => (await import('./services.js')).registerServices],
  ['plans', async () => (await import('./plans.js')).registerPlans],
  ['apps', async () => (await import('./apps.js')).registerApps],
  ['keys', async () => (await import('./keys.js')).registerKeys],
  ['clients', async () => (await import('./clients.js')).registerClients],
  ['users', async () => (await import('./users.js')).registerUsers],
  ['usage', async () => (await import('./usage.js')).registerUsage],
  ['migrate', async () => (await import('./usage.js')).registerMigrate],
  ['sync', async () => (await import('./sync.js')).registerSync],
  ['load-data', async () => (await import('./load-data.js')).registerLoadData],
];

/** The program with every verb, or only `verb`'s when it is one (what `main` runs). */
export async function buildProgram(verb?: string): Promise<Command> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('tollgate')
    .description('Tollgate: an API gateway (credentials, caching, keys and limits) from one config file.')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  const only = VERBS.filter(([name]) => name === verb);
  const load = verb === '--version' || verb === '-V' ? [] : only.length ? only : VERBS;
  for (const register of await Promise.all(load.map(([, loadVerb]) => loadVerb()))) register(program);
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
  const program = await buildProgram(argv[2]);
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
