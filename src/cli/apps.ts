/** `tollgate apps create|list|show|suspend|resume`: applications (consumers). */
import type { Command } from 'commander';
import { StoreError } from '../store/index.js';
import type { Application } from '../store/index.js';
import { addStoreOptions, print, printOne, printSecret, withStore } from './store-common.js';
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
  );
  addStoreOptions(cmd.command('create [id]').description('Create an application (id generated when omitted).'))
    .requiredOption('--plan <id>', 'its plan')
    .option('--name <name>', 'display name')
    .option('--service <id>', 'bind it to one service')
    .option('--description <text>', 'free text')
    .option('--with-key', 'also create an API key and print it once')
    .option('--scopes <list>', "with --with-key: the key's scopes, separated by commas (e.g. read). Default: every scope")
    .addHelpText('after', '\nExamples:\n  $ tollgate apps create acme --plan free --with-key -c tollgate.yaml\n  $ tollgate apps create reader --plan free --with-key --scopes read -c tollgate.yaml\n  $ tollgate apps create --plan pro --service api --name "Acme Ltd" --json')
    .action((id: string | undefined, o: StoreOpts & { plan: string; name?: string; service?: string; description?: string; withKey?: boolean; scopes?: string }) =>
      withStore(o, async (store) => {
        if (o.scopes !== undefined && !o.withKey) throw new StoreError('INVALID', '--scopes goes with --with-key (or use tollgate keys create APP --scopes …)');
        const scopes = o.scopes === undefined ? undefined : parseScopes(o.scopes);
        const app = await store.createApplication({ id, planId: o.plan, name: o.name, serviceId: o.service, description: o.description });
        if (!o.withKey) return printOne(o, row(app), app);
        const { credential, secret } = await store.createCredential(app.id, { kind: 'api_key', scopes });
        printSecret(o, 'API key', secret!, { ...row(app), keyId: credential.id });
      }),
    );
  examples(addStoreOptions(cmd.command('list').description('List applications.')), 'tollgate apps list --state suspended --json -c tollgate.yaml')
    .option('--plan <id>', 'only this plan')
    .option('--service <id>', 'only this service')
    .option('--state <state>', 'active or suspended')
    .action((o: StoreOpts & { plan?: string; service?: string; state?: 'active' | 'suspended' }) =>
      withStore(o, async (store) => {
        const all = await store.listApplications({ planId: o.plan, serviceId: o.service, state: o.state });
        print(o, all.map(row), all);
      }),
    );
  examples(addStoreOptions(cmd.command('show <id>').description('Show an application and its credentials (never their secrets).')), 'tollgate apps show acme -c tollgate.yaml').action((id: string, o: StoreOpts) =>
    withStore(o, async (store) => {
      const app = await store.getApplication(id);
      if (!app) throw new StoreError('NOT_FOUND', `no application ${id}`);
      const creds = await store.listCredentials(id);
      if (o.json) return printOne(o, {}, { ...app, credentials: creds });
      printOne(o, row(app));
      process.stdout.write('\ncredentials:\n');
      print(o, creds.map((c) => ({ id: c.id, kind: c.kind, hint: c.hint, label: c.label, scopes: scopesCell(c), expires: c.expiresAt, revoked: c.revokedAt })));
    }),
  );
  for (const [verb, state, what] of [
    ['suspend', 'suspended', 'Suspend an application: its keys get 403 within a second on every instance.'],
    ['resume', 'active', 'Resume a suspended application.'],
  ] as const) {
    examples(addStoreOptions(cmd.command(`${verb} <id>`).description(what)), `tollgate apps ${verb} acme -c tollgate.yaml`).action((id: string, o: StoreOpts) =>
      withStore(o, async (store) => {
        const app = await store.updateApplication(id, { state });
        printOne(o, row(app), app);
      }),
    );
  }
}
