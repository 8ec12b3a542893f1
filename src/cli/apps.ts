/** `tollgate apps create|list|show|update|delete|suspend|resume`: applications (consumers). */
import type { Command } from 'commander';
import { StoreError } from '../store/index.js';
import type { Application } from '../store/index.js';
import { addOpsOptions, print, printOne, printSecret, withOps } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';
import { parseScopes, scopesCell } from './keys.js';

const row = (a: Application) => ({ id: a.id, name: a.name, plan: a.planId, service: a.serviceId, state: a.state, origin: a.origin, created: a.createdAt });

export function registerApps(program: Command): void {
  const cmd = examples(
    program.command('apps').description('Manage applications (the consumers of your API).'),
    'tollgate apps create acme --plan free --with-key -c tollgate.yaml   # prints the key once',
    'tollgate apps list --plan free -c tollgate.yaml',
    'tollgate apps suspend acme -c tollgate.yaml                        # its keys get 403 within a second',
    'tollgate apps list --admin http://127.0.0.1:9080                   # through a running gateway (token: $TOLLGATE_ADMIN_TOKEN)',
  );
  addOpsOptions(cmd.command('create [id]').description('Create an application (id generated when omitted).'))
    .requiredOption('--plan <id>', 'its plan')
    .option('--name <name>', 'display name')
    .option('--service <id>', 'bind it to one service')
    .option('--description <text>', 'free text')
    .option('--with-key', 'also create an API key and print it once')
    .option('--scopes <list>', "with --with-key: the key's scopes, separated by commas (e.g. read). Default: every scope")
    .addHelpText(
      'after',
      '\nExamples:\n  $ tollgate apps create acme --plan free --with-key -c tollgate.yaml\n  $ tollgate apps create reader --plan free --with-key --scopes read -c tollgate.yaml\n  $ tollgate apps create --plan pro --service api --name "Acme Ltd" --json\n  $ tollgate apps create acme --plan free --admin http://127.0.0.1:9080',
    )
    .action((id: string | undefined, o: StoreOpts & { plan: string; name?: string; service?: string; description?: string; withKey?: boolean; scopes?: string }) =>
      withOps(o, async (ops) => {
        if (o.scopes !== undefined && !o.withKey) throw new StoreError('INVALID', '--scopes goes with --with-key (or use tollgate keys create APP --scopes …)');
        const scopes = o.scopes === undefined ? undefined : parseScopes(o.scopes);
        const { application: app, key } = await ops.createApplication({ id, planId: o.plan, name: o.name, serviceId: o.service, description: o.description, withKey: o.withKey, scopes });
        if (!key) return printOne(o, row(app), app);
        printSecret(o, 'API key', key.secret, { ...row(app), keyId: key.credential.id });
      }),
    );
  examples(addOpsOptions(cmd.command('list').description('List applications.')), 'tollgate apps list --state suspended --json -c tollgate.yaml')
    .option('--plan <id>', 'only this plan')
    .option('--service <id>', 'only this service')
    .option('--state <state>', 'active or suspended')
    .action((o: StoreOpts & { plan?: string; service?: string; state?: 'active' | 'suspended' }) =>
      withOps(o, async (ops) => {
        const all = await ops.listApplications({ planId: o.plan, serviceId: o.service, state: o.state });
        print(o, all.map(row), all);
      }),
    );
  examples(addOpsOptions(cmd.command('show <id>').description('Show an application and its credentials (never their secrets).')), 'tollgate apps show acme -c tollgate.yaml').action((id: string, o: StoreOpts) =>
    withOps(o, async (ops) => {
      const { credentials: creds, ...app } = await ops.showApplication(id);
      if (o.json) return printOne(o, {}, { ...app, credentials: creds });
      printOne(o, row(app));
      process.stdout.write('\ncredentials:\n');
      print(o, creds.map((c) => ({ id: c.id, kind: c.kind, hint: c.hint, label: c.label, scopes: scopesCell(c), expires: c.expiresAt, revoked: c.revokedAt })));
    }),
  );
  addOpsOptions(cmd.command('update <id>').description("Change an application's name, plan or description."))
    .option('--name <name>', 'display name')
    .option('--plan <id>', 'move it to this plan (limits apply within a second)')
    .option('--description <text>', 'free text')
    .addHelpText('after', '\nExamples:\n  $ tollgate apps update acme --plan pro -c tollgate.yaml\n  $ tollgate apps update acme --name "Acme Ltd" --admin http://127.0.0.1:9080')
    .action((id: string, o: StoreOpts & { name?: string; plan?: string; description?: string }) =>
      withOps(o, async (ops) => {
        if (o.name === undefined && o.plan === undefined && o.description === undefined) throw new StoreError('INVALID', 'nothing to change: give --name, --plan or --description');
        const app = await ops.updateApplication(id, { name: o.name, planId: o.plan, description: o.description });
        printOne(o, row(app), app);
      }),
    );
  examples(addOpsOptions(cmd.command('delete <id>').description('Delete an application and its keys (they stop working within a second). Not one the config declares.')), 'tollgate apps delete acme -c tollgate.yaml').action((id: string, o: StoreOpts) =>
    withOps(o, async (ops) => {
      const app = await ops.deleteApplication(id);
      printOne(o, { ...row(app), deleted: true }, app);
    }),
  );
  for (const [verb, state, what] of [
    ['suspend', 'suspended', 'Suspend an application: its keys get 403 within a second on every instance.'],
    ['resume', 'active', 'Resume a suspended application.'],
  ] as const) {
    examples(addOpsOptions(cmd.command(`${verb} <id>`).description(what)), `tollgate apps ${verb} acme -c tollgate.yaml`).action((id: string, o: StoreOpts) =>
      withOps(o, async (ops) => {
        const app = await ops.updateApplication(id, { state });
        printOne(o, row(app), app);
      }),
    );
  }
}
