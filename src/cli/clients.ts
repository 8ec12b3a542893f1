/**
 * `tollgate clients create|list|revoke`: OAuth2 clients of the gateway's token endpoint (config `oauth2`).
 * A confidential client's secret is printed once, at creation; the tokens a client gets count against its
 * application.
 */
import type { Command } from 'commander';
import { StoreError } from '../store/index.js';
import type { Credential, OAuth2Grant, Store } from '../store/index.js';
import { addStoreOptions, print, printOne, printSecret, withStore } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';

const row = (c: Credential) => ({
  id: c.id,
  client_id: c.clientId,
  app: c.applicationId,
  type: c.clientType,
  grants: c.grants.join(','),
  scopes: c.scopes.join(' '),
  hint: c.hint,
  label: c.label,
  created: c.createdAt,
  revoked: c.revokedAt,
});

const list = (v: string) =>
  v
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** A client by its credential id (cred_…) or its client_id. */
async function findClient(store: Store, id: string): Promise<Credential | undefined> {
  const byId = await store.getCredential(id);
  if (byId?.kind === 'oauth2_client') return byId;
  for (const app of await store.listApplications()) {
    const c = (await store.listCredentials(app.id)).find((x) => x.kind === 'oauth2_client' && x.clientId === id);
    if (c) return c;
  }
  return undefined;
}

interface CreateOpts extends StoreOpts {
  public?: boolean;
  clientId?: string;
  grants?: string;
  scopes?: string;
  redirectUri: string[];
  label?: string;
}

export function registerClients(program: Command): void {
  const cmd = examples(
    program.command('clients').description("Manage OAuth2 clients (the gateway's token endpoint, config `oauth2`)."),
    'tollgate clients create acme --scopes read,write -c tollgate.yaml   # prints client_id and the secret once',
    'tollgate clients create acme --public --client-id acme-spa -c tollgate.yaml',
    'tollgate clients list acme -c tollgate.yaml',
    'tollgate clients revoke acme-spa -c tollgate.yaml',
  );
  examples(
    addStoreOptions(cmd.command('create <app>').description("Create an OAuth2 client for an application; a confidential client's secret is printed once."))
      .option('--public', 'a public client (no secret; password grant only)')
      .option('--client-id <id>', 'its client_id (default: generated)')
      .option('--grants <list>', 'grants it may use, comma-separated: password, refresh_token, client_credentials (default: all; public: password)')
      .option('--scopes <list>', 'its scopes, comma-separated: what a token request without scope gets, and all it may ask for')
      .option('--redirect-uri <uri>', 'a registered redirect URI (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
      .option('--label <text>', 'a label to tell clients apart'),
    'tollgate clients create acme --scopes read,write -c tollgate.yaml',
    'tollgate clients create acme --grants client_credentials --scopes read --json -c tollgate.yaml',
  ).action((app: string, o: CreateOpts) =>
    withStore(o, async (store) => {
      const { credential, secret } = await store.createCredential(app, {
        kind: 'oauth2_client',
        clientType: o.public ? 'public' : 'confidential',
        ...(o.clientId !== undefined ? { clientId: o.clientId } : {}),
        ...(o.grants !== undefined ? { grants: list(o.grants) as OAuth2Grant[] } : {}),
        ...(o.scopes !== undefined ? { scopes: list(o.scopes) } : {}),
        redirectUris: o.redirectUri,
        label: o.label ?? null,
      });
      if (secret) printSecret(o, `client_secret (client_id ${credential.clientId})`, secret, row(credential));
      else printOne(o, row(credential), credential);
    }),
  );
  examples(addStoreOptions(cmd.command('list <app>').description("List an application's OAuth2 clients (secret hints only).")), 'tollgate clients list acme --json -c tollgate.yaml').action(
    (app: string, o: StoreOpts) =>
      withStore(o, async (store) => {
        if (!(await store.getApplication(app))) throw new StoreError('NOT_FOUND', `no application ${app}`);
        const all = (await store.listCredentials(app)).filter((c) => c.kind === 'oauth2_client');
        print(o, all.map(row), all);
      }),
  );
  examples(
    addStoreOptions(cmd.command('revoke <client>').description('Revoke a client (by client_id or id) and its tokens: they stop working within a second on every instance.')),
    'tollgate clients revoke acme-spa -c tollgate.yaml',
  ).action((id: string, o: StoreOpts) =>
    withStore(o, async (store) => {
      const c = await findClient(store, id);
      if (!c) throw new StoreError('NOT_FOUND', `no OAuth2 client ${id}`);
      await store.revokeCredential(c.id);
      await store.revokeOAuthTokensOf(c.id);
      const after = (await store.getCredential(c.id))!;
      printOne(o, row(after), after);
    }),
  );
}
