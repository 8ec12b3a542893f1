/** `tollgate services create|list|show`: services (3scale's service_id with a service token). */
import type { Command } from 'commander';
import { StoreError } from '../store/index.js';
import type { Service } from '../store/index.js';
import { addStoreOptions, print, printOne, printSecret, withStore } from './store-common.js';
import type { StoreOpts } from './store-common.js';

const row = (s: Service) => ({ id: s.id, name: s.name, token: s.hasToken ? 'set' : 'none', origin: s.origin, created: s.createdAt });

export function registerServices(program: Command): void {
  const cmd = program.command('services').description('Manage services (groups of routes with metrics and mapping rules).');
  addStoreOptions(cmd.command('create [id]').description('Create a service; its token is printed once.'))
    .option('--name <name>', 'display name')
    .option('--no-token', 'create it without a service token')
    .action((id: string | undefined, o: StoreOpts & { name?: string; token: boolean }) =>
      withStore(o, async (store) => {
        const { service, token } = await store.createService({ id, name: o.name, token: o.token ? undefined : false });
        if (token) printSecret(o, 'service token', token, row(service));
        else printOne(o, row(service));
      }),
    );
  addStoreOptions(cmd.command('list').description('List services.')).action((o: StoreOpts) =>
    withStore(o, async (store) => {
      const all = await store.listServices();
      print(o, all.map(row), all);
    }),
  );
  addStoreOptions(cmd.command('show <id>').description('Show a service with its metrics and mapping rules.')).action((id: string, o: StoreOpts) =>
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
