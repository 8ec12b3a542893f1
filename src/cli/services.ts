/** `tollgate services create|list|show`: services (3scale's service_id with a service token). */
import type { Command } from 'commander';
import { StoreError } from '../store/index.js';
import type { Service } from '../store/index.js';
import { addStoreOptions, print, printOne, printSecret, withStore } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';

const row = (s: Service) => ({ id: s.id, name: s.name, token: s.hasToken ? 'set' : 'none', origin: s.origin, created: s.createdAt });

export function registerServices(program: Command): void {
  const cmd = examples(
    program.command('services').description('Manage services (groups of routes with metrics and mapping rules).'),
    'tollgate services create api --name "Public API" -c tollgate.yaml   # prints its token once',
    'tollgate services list -c tollgate.yaml',
  );
  examples(
    addStoreOptions(cmd.command('create [id]').description('Create a service; its token is printed once.')),
    'tollgate services create api --name "Public API" -c tollgate.yaml',
    'tollgate services create internal --no-token --store postgres://localhost/tollgate',
  )
    .option('--name <name>', 'display name')
    .option('--no-token', 'create it without a service token')
    .action((id: string | undefined, o: StoreOpts & { name?: string; token: boolean }) =>
      withStore(o, async (store) => {
        const { service, token } = await store.createService({ id, name: o.name, token: o.token ? undefined : false });
        if (token) printSecret(o, 'service token', token, row(service));
        else printOne(o, row(service));
      }),
    );
  examples(addStoreOptions(cmd.command('list').description('List services.')), 'tollgate services list --json -c tollgate.yaml').action((o: StoreOpts) =>
    withStore(o, async (store) => {
      const all = await store.listServices();
      print(o, all.map(row), all);
    }),
  );
  examples(addStoreOptions(cmd.command('show <id>').description('Show a service with its metrics and mapping rules.')), 'tollgate services show api -c tollgate.yaml').action((id: string, o: StoreOpts) =>
    withStore(o, async (store) => {
      const s = await store.getService(id);
      if (!s) throw new StoreError('NOT_FOUND', `no service ${id}`);
      const [metrics, rules] = await Promise.all([store.listMetrics(id), store.listMappingRules(id)]);
      if (o.json) return printOne(o, {}, { ...s, metrics, mappingRules: rules });
      printOne(o, { ...row(s), metrics: metrics.map((m) => m.name).join(', ') });
      if (rules.length) {
        process.stdout.write('\nmapping rules:\n');
        print(o, rules.map((r) => ({ method: r.method, pattern: r.pattern, metric: r.metric, delta: r.delta, last: r.last })));
      }
    }),
  );
}
