/** `tollgate usage APP [--period day]` and `tollgate migrate`. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { PERIODS, migrate } from '../store/index.js';
import type { Period } from '../store/index.js';
import { EXIT_OK, reportError } from './common.js';
import { addOpsOptions, loadStoreDeps, print, storeUrl, withOps } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';

export function registerUsage(program: Command): void {
  addOpsOptions(program.command('usage <app>').description("An application's usage per metric and period (written by the gateways every second, `limits.usageFlush`)."))
    .addOption(new Option('--period <period>', 'period').choices([...PERIODS]).default('day'))
    .option('--metric <name>', 'only this metric')
    .option('--all', 'every past period, not only the current one')
    .addHelpText('after', '\nExamples:\n  $ tollgate usage acme --period minute -c tollgate.yaml\n  $ tollgate usage acme --metric hits --all --json -c tollgate.yaml\n  $ tollgate usage acme --admin http://127.0.0.1:9080')
    .action((app: string, o: StoreOpts & { period: Period; metric?: string; all?: boolean }) =>
      withOps(o, async (ops) => {
        const rows = await ops.usage(app, { period: o.period, metric: o.metric, all: o.all });
        print(o, rows.map((r) => ({ metric: r.metric, period: r.period, start: r.periodStart, value: r.value })), rows);
      }),
    );
}

export function registerMigrate(program: Command): void {
  examples(
    program.command('migrate'),
    'tollgate migrate -c tollgate.yaml                              # the store named in the config',
    'tollgate migrate --store postgres://tollgate@db/tollgate       # before rolling out new instances',
  )
    .description('Apply pending store migrations (start does it too).')
    .option('-c, --config <file>', 'config file whose `store:` to use')
    .option('--store <url>', 'store URL (beats the config)')
    .hook('preAction', loadStoreDeps)
    .action(async (o: StoreOpts) => {
      try {
        const applied = await migrate(storeUrl(o));
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
        process.exitCode = EXIT_OK;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
