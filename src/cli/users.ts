/** `tollgate users create|list|show`: users for HTTP Basic and the OAuth2 password grant. */
import type { Command } from 'commander';
import { StoreError } from '../store/index.js';
import type { User } from '../store/index.js';
import { addOpsOptions, print, printOne, withOps } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';

const row = (u: User) => ({ id: u.id, username: u.username, app: u.applicationId, origin: u.origin, created: u.createdAt });

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function registerUsers(program: Command): void {
  const cmd = examples(
    program.command('users').description('Manage users (HTTP Basic on routes whose auth allows it).'),
    'printf %s "$PASSWORD" | tollgate users create alice --app acme -c tollgate.yaml',
    'tollgate users list -c tollgate.yaml',
    'tollgate users list --admin http://127.0.0.1:9080   # through a running gateway (token: $TOLLGATE_ADMIN_TOKEN)',
  );
  addOpsOptions(cmd.command('create <username>').description('Create a user. The password comes from $TOLLGATE_PASSWORD or stdin, never from an argument.'))
    .option('--app <id>', 'the application the user acts for')
    .addHelpText('after', '\nExamples:\n  $ printf %s "$PASSWORD" | tollgate users create alice --app acme\n  $ TOLLGATE_PASSWORD="$PASSWORD" tollgate users create bob --json')
    .action((username: string, o: StoreOpts & { app?: string }) =>
      withOps(o, async (ops) => {
        const password = process.env.TOLLGATE_PASSWORD ?? (process.stdin.isTTY ? '' : await readStdin());
        if (!password) throw new StoreError('INVALID', 'no password: set TOLLGATE_PASSWORD or pipe it on stdin');
        const user = await ops.createUser({ username, password, applicationId: o.app ?? null });
        printOne(o, row(user), user);
      }),
    );
  examples(addOpsOptions(cmd.command('list').description('List users.')), 'tollgate users list --json -c tollgate.yaml').action((o: StoreOpts) =>
    withOps(o, async (ops) => {
      const all = await ops.listUsers();
      print(o, all.map(row), all);
    }),
  );
  examples(addOpsOptions(cmd.command('show <user>').description('Show a user (by id or username).')), 'tollgate users show alice -c tollgate.yaml').action((id: string, o: StoreOpts) =>
    withOps(o, async (ops) => {
      const u = await ops.showUser(id);
      printOne(o, row(u), u);
    }),
  );
}
