import type { Command } from 'commander';
import pino from 'pino';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/problems.js';
import { DEFAULT_CONFIG, EXIT_OK, reportError } from './common.js';

/**
 * Loads a config for checking: when the schema fails, the valid rest is compiled as well, so one run reports
 * schema problems, unknown upstream/policy references and policy option errors (bad regex, bad template) together.
 */
async function loadForCheck(file: string, log: Logger): Promise<LoadedConfig> {
  const [{ loadConfigFile }, { compileConfig }] = await Promise.all([import('../config/load.js'), import('../config/compile.js')]);
  try {
    return loadConfigFile(file);
  } catch (e) {
    if (!(e instanceof ConfigError) || !e.partial) throw e;
    const more = await compileConfig(e.partial, { log }).then(
      async (snapshot) => {
        await snapshot.retire(undefined);
        return [];
      },
      (c: unknown) => (c instanceof ConfigError ? c.problems : []),
    );
    throw new ConfigError([...e.problems, ...more]);
  }
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('Validate a config file and print the routes it would serve.')
    .option('-c, --config <file>', 'config file (YAML or JSON)', DEFAULT_CONFIG)
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate check -c tollgate.yaml
  $ NETMETR_BACKEND=http://backend NETMETR_TOKEN=x tollgate check -c examples/netmetr.yaml

Prints each route with its compiled policy chain and exits 0, or prints every problem
as FILE:LINE: key.path: what was expected, and exits 2.`,
    )
    .action(async (opts: { config: string }) => {
      try {
        const log = pino({ level: 'warn' }, pino.destination(2));
        const loaded = await loadForCheck(opts.config, log);
        const { compileConfig } = await import('../config/compile.js');
        const snapshot = await compileConfig(loaded, { log });
        const { config } = loaded;
        const out: string[] = [`${opts.config}: ok`];
        out.push(`listen ${config.listen.host}:${config.listen.port}${config.admin.enabled ? `, admin ${config.admin.host}:${config.admin.port}` : ''}`);
        out.push(`upstreams: ${Object.entries(config.upstreams).map(([n, u]) => `${n} -> ${[u.url].flat().join(', ')}`).join('; ') || '(none)'}`);
        out.push(`routes (${snapshot.routes.length}, first match wins):`);
        snapshot.routes.forEach((r, i) => out.push(`  ${i + 1}. ${r.describe}`));
        process.stdout.write(snapshot.redactText(out.join('\n')) + '\n');
        await snapshot.retire(undefined);
        process.exitCode = EXIT_OK;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
