import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { Gateway } from '../gateway.js';
import { DEFAULT_CONFIG, EXIT_OK, loggerFrom, portFlag, reportError } from './common.js';
import type { LogHandle } from '../log.js';

export interface ServeOptions {
  logLevel?: string;
  logFormat?: string;
  watch?: boolean;
}

/** Runs a started gateway until SIGTERM/SIGINT; SIGHUP (and --watch) reload the config. */
export function serveUntilSignal(gw: Gateway, handle: LogHandle, configFile: string | undefined, opts: ServeOptions, onStop?: () => Promise<void>): void {
  const { log } = handle;
  const reload = (why: string) =>
    gw.reload().then(
      () => log.info({ why }, 'reload done'),
      (e) => log.error({ err: String((e as Error).message ?? e), why }, 'reload failed; the previous config keeps serving'),
    );
  process.on('SIGHUP', () => void reload('SIGHUP'));
  if (opts.watch && configFile) {
    // The directory, not the file: editors, `sed -i` and deploy tools replace the file by a rename, and a
    // watch on the file itself follows the old inode and goes deaf after the first such save.
    const name = basename(configFile);
    let timer: NodeJS.Timeout | undefined;
    watch(dirname(configFile), (_event, filename) => {
      if (filename !== null && filename !== name) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload('file changed'), 150);
    });
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await gw.shutdown();
    await onStop?.();
    log.info('stopped');
    handle.flush();
    process.exit(EXIT_OK);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Serve a config file.')
    .option('-c, --config <file>', 'config file (YAML or JSON)', DEFAULT_CONFIG)
    .option('-p, --port <port>', 'proxy port (beats listen.port; 0 picks a free port)', portFlag('--port'))
    .option('--host <host>', 'proxy address (beats listen.host)')
    .option('--admin-port <port>', 'admin port (beats admin.port; 0 picks a free port)', portFlag('--admin-port'))
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent (beats log.level)')
    .addOption(new Option('--log-format <format>', 'auto|json|pretty (beats log.format)').choices(['auto', 'json', 'pretty']))
    .option('-w, --watch', 'reload when the config file changes (SIGHUP always reloads)')
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate start -c tollgate.yaml
  $ tollgate start -c examples/netmetr.yaml --port 0 --admin-port 0
  $ UPSTREAM_URL=http://127.0.0.1:3000 tollgate start -c tollgate.yaml --watch --log-level debug

On start it prints "listening on http://HOST:PORT" (and "admin listening on …").
Signals: SIGTERM/SIGINT drain in-flight requests and exit 0; SIGHUP reloads the config.
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.`,
    )
    .action(async (opts: { config: string; port?: number; host?: string; adminPort?: number } & ServeOptions) => {
      let handle: LogHandle | undefined;
      try {
        // Loaded on use: `tollgate --version`, `--help` and the other verbs do not pay for the gateway.
        const [{ loadConfigFile }, { startGateway }] = await Promise.all([import('../config/load.js'), import('../gateway.js')]);
        // The file's log settings apply unless flags say otherwise. Parsed once: the gateway starts from it.
        const loaded = loadConfigFile(opts.config);
        const { config } = loaded;
        handle = loggerFrom({ logLevel: opts.logLevel ?? config.log.level, logFormat: opts.logFormat ?? config.log.format });
        const gw = await startGateway({
          configFile: opts.config,
          loaded,
          log: handle.log,
          overrides: { host: opts.host, port: opts.port, adminPort: opts.adminPort },
        });
        process.stdout.write(`listening on ${gw.url}\n`);
        if (gw.adminUrl) process.stdout.write(`admin listening on ${gw.adminUrl}\n`);
        serveUntilSignal(gw, handle, opts.config, opts);
      } catch (e) {
        handle?.flush();
        process.exitCode = reportError(e);
      }
    });
}
