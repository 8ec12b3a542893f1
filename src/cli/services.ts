/** `tollgate services create|list|show`: services (3scale's service_id with a service token). */
import type { Command } from 'commander';
import type { Service } from '../store/index.js';
import { addOpsOptions, print, printOne, printSecret, withOps } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';

const row = (s: Service) => ({ id: s.id, name: s.name, token: s.hasToken ? 'set' : 'none', origin: s.origin, created: s.createdAt });

export function registerServices(program: Command): void {
  const cmd = examples(
    program.command('services').description('Manage services (groups of routes with metrics and mapping rules).'),
    'tollgate services create api --name "Public API" -c tollgate.yaml   # prints its token once',
    'tollgate services list -c tollgate.yaml',
    'tollgate services list --admin http://127.0.0.1:9080   # through a running gateway (token: $TOLLGATE_ADMIN_TOKEN)',
  );
  examples(
    addOpsOptions(cmd.command('create [id]').description('Create a service; its token is printed once.')),
    'tollgate services create api --name "Public API" -c tollgate.yaml',
    'tollgate services create internal --no-token --store postgres://localhost/tollgate',
  )
    .option('--name <name>', 'display name')
    .option('--no-token', 'create it without a service token')
    .action((id: string | undefined, o: StoreOpts & { name?: string; token: boolean }) =>
      withOps(o, async (ops) => {
        const { service, token } = await ops.createService({ id, name: o.name, token: o.token });
        if (token) printSecret(o, 'service token', token, row(service));
        else printOne(o, row(service));
      }),
    );
  examples(addOpsOptions(cmd.command('list').description('List services.')), 'tollgate services list --json -c tollgate.yaml').action((o: StoreOpts) =>
    withOps(o, async (ops) => {
      const all = await ops.listServices();
      print(o, all.map(row), all);
    }),
  );
  examples(addOpsOptions(cmd.command('show <id>').description('Show a service with its metrics and mapping rules.')), 'tollgate services show api -c tollgate.yaml').action((id: string, o: StoreOpts) =>
    withOps(o, async (ops) => {
      const { metrics, mappingRules: rules, ...s } = await ops.showService(id);
      if (o.json) return printOne(o, {}, { ...s, metrics, mappingRules: rules });
      printOne(o, { ...row(s), metrics: metrics.map((m) => m.name).join(', ') });
      if (rules.length) {
        process.stdout.write('\nmapping rules:\n');
        print(o, rules.map((r) => ({ method: r.method, pattern: r.pattern, metric: r.metric, delta: r.delta, last: r.last })));
      }
    }),
  );
}
