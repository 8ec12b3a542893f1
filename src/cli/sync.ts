/**
 * `tollgate sync -c FILE`: writes what the config declares (services, plans, applications, their keys, users)
 * into the store, as `start` and every reload do. The only store verb that reads the config's declarations:
 * the others read and write only what they are asked.
 */
import type { Command } from 'commander';
import { openStore } from '../store/index.js';
import type { Store } from '../store/index.js';
import { reportError } from './common.js';
import { addStoreOptions, printOne, storeContext } from './store-common.js';
import type { StoreOpts } from './store-common.js';

export function registerSync(program: Command): void {
  addStoreOptions(program.command('sync').description("Write the config's services, plans, applications, keys and users into the store (start and reload do it too)."))
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate sync -c tollgate.yaml
  $ DEMO_API_KEY=demo-key-change-me tollgate sync -c examples/keys.yaml --json

Creates and updates what the config declares and revokes config keys it no longer lists; what the CLI
created is kept. A declared key whose value is empty (its variable unset) is skipped with a warning, and
then none of that application's config keys is revoked. Only the consumer sections need their variables.`,
    )
    .action(async (o: StoreOpts) => {
      let store: Store | undefined;
      try {
        // The config is what is synced, even with --store (which only says where to).
        const { url, loaded } = storeContext({ config: o.config });
        if (!loaded) throw new Error(`no config file to sync: ${o.config} not found`);
        store = await openStore(o.store ?? url);
        const { syncConfig } = await import('../gateway/consumers.js');
        const report = await syncConfig(store, loaded, (line) => process.stderr.write(`warning: ${line}\n`));
        printOne(o, { ...report });
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await store?.close();
      }
    });
}
