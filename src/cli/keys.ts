/** `tollgate keys create|list|revoke`: an application's credentials. Secrets are printed once, at creation. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { StoreError } from '../store/index.js';
import { checkScopes } from '../store/validate.js';
import type { Credential } from '../store/index.js';
import { addOpsOptions, print, printOne, printSecret, withOps } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';

/** A key without scopes has every scope: say so rather than print an empty cell. */
export const scopesCell = (c: Credential) => c.scopes.join(',') || (c.kind === 'oauth2_client' ? null : '(all)');
const row = (c: Credential) => ({ id: c.id, app: c.applicationId, kind: c.kind, hint: c.hint, label: c.label, scopes: scopesCell(c), created: c.createdAt, expires: c.expiresAt, revoked: c.revokedAt });

/** `--scopes read,write`: at least one scope; leave the flag out for a key with every scope. */
export function parseScopes(value: string): string[] {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!scopes.length) throw new StoreError('INVALID', '--scopes: expected scopes separated by commas, e.g. read,write (leave the flag out for a key with every scope)');
  return checkScopes(scopes);
}

export function registerKeys(program: Command): void {
  const cmd = examples(
    program.command('keys').description("Manage applications' keys."),
    'tollgate keys create acme --label ci --expires 30d -c tollgate.yaml   # prints the key once',
    'tollgate keys create acme --scopes read -c tollgate.yaml             # a read-only key (see auth.scopes)',
    'tollgate keys list acme -c tollgate.yaml',
    'tollgate keys revoke <keyId> -c tollgate.yaml',
    'tollgate keys revoke <keyId> --admin http://127.0.0.1:9080          # through a running gateway (token: $TOLLGATE_ADMIN_TOKEN)',
  );
  addOpsOptions(cmd.command('create <app>').description('Create a key for an application; it is printed once.'))
    .addOption(new Option('--kind <kind>', 'kind of key').choices(['api_key', 'user_key', 'app_key']).default('api_key'))
    .option('--label <text>', 'a label to tell keys apart')
    .option('--expires <duration>', 'expire after this long (e.g. 30d, 12h)')
    .option('--scopes <list>', "its scopes, separated by commas (e.g. read,write), checked by routes' auth.scopes. Default: every scope")
    .addHelpText(
      'after',
      '\nExamples:\n  $ tollgate keys create acme --label ci -c tollgate.yaml\n  $ tollgate keys create acme --scopes read,write -c tollgate.yaml\n  $ tollgate keys create acme --kind app_key --expires 12h --json -c tollgate.yaml\n  $ tollgate keys create acme --admin http://127.0.0.1:9080',
    )
    .action((app: string, o: StoreOpts & { kind: 'api_key' | 'user_key' | 'app_key'; label?: string; expires?: string; scopes?: string }) =>
      withOps(o, async (ops) => {
        const scopes = o.scopes === undefined ? undefined : parseScopes(o.scopes);
        const { credential, secret } = await ops.createKey(app, { kind: o.kind, label: o.label ?? null, expires: o.expires, scopes });
        printSecret(o, o.kind === 'app_key' ? `app_key (send with app_id=${app})` : o.kind, secret, o.json ? { ...row(credential), scopes: credential.scopes } : row(credential));
      }),
    );
  examples(addOpsOptions(cmd.command('list <app>').description("List an application's keys (hints only).")), 'tollgate keys list acme --json -c tollgate.yaml').action((app: string, o: StoreOpts) =>
    withOps(o, async (ops) => {
      const all = await ops.listKeys(app);
      print(o, all.map(row), all);
    }),
  );
  examples(
    addOpsOptions(cmd.command('revoke <keyId>').description('Revoke a key: it stops working within a second on every instance.')),
    'tollgate keys list acme -c tollgate.yaml && tollgate keys revoke <id from the list> -c tollgate.yaml',
  ).action((id: string, o: StoreOpts) =>
    withOps(o, async (ops) => {
      const c = await ops.revokeKey(id);
      printOne(o, row(c), c);
    }),
  );
}
