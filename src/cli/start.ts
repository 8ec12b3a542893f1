import cluster from 'node:cluster';
import { watch } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { Gateway } from '../gateway.js';
import { DEFAULT_CONFIG, EXIT_OK, loggerFrom, portFlag, reportError, usageError } from './common.js';
import type { LogHandle } from '../log.js';

export interface ServeOptions {
  logLevel?: string;
  logFormat?: string;
  watch?: boolean;
}

/** Reloads when the config file changes. */
function watchConfig(configFile: string, reload: (why: string) => void): void {
  // The directory, not the file: editors, `sed -i` and deploy tools replace the file by a rename, and a
  // watch on the file itself follows the old inode and goes deaf after the first such save.
  const name = basename(configFile);
  let timer: NodeJS.Timeout | undefined;
  watch(dirname(configFile), (_event, filename) => {
    if (filename !== null && filename !== name) return;
    clearTimeout(timer);
    timer = setTimeout(() => reload('file changed'), 150);
  });
}

function workersFlag(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 256) usageError(`--workers: expected a number 1-256 or auto, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * SIGHUP (and the config file's changes, when watched) reload; SIGTERM/SIGINT shut down once and exit 0.
 * Install before printing the listening line: a script that signals as soon as it reads it must not hit the
 * default action.
 */
function onSignals(handle: LogHandle, o: { reload(why: string): Promise<unknown>; shutdown(): Promise<unknown>; watchFile: string | undefined; stopping: string }): void {
  const { log } = handle;
  process.on('SIGHUP', () => void o.reload('SIGHUP'));
  if (o.watchFile) watchConfig(o.watchFile, (why) => void o.reload(why));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, o.stopping);
    await o.shutdown();
    log.info('stopped');
    handle.flush();
    process.exit(EXIT_OK);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Runs a started gateway until SIGTERM/SIGINT; SIGHUP (and --watch) reload the config. */
export function serveUntilSignal(gw: Gateway, handle: LogHandle, configFile: string | undefined, opts: ServeOptions, onStop?: () => Promise<void>): void {
  const { log } = handle;
  onSignals(handle, {
    reload: (why) =>
      gw.reload().then(
        () => log.info({ why }, 'reload done'),
        (e) => log.error({ err: String((e as Error).message ?? e), why }, 'reload failed; the previous config keeps serving'),
      ),
    shutdown: async () => {
      await gw.shutdown();
      await onStop?.();
    },
    watchFile: opts.watch ? configFile : undefined,
    stopping: 'shutting down',
  });
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
    .option('--workers <n>', "worker processes sharing the listener: a number or auto (one per core); beats listen.workers (default 1: this process serves alone)", workersFlag)
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate start -c tollgate.yaml
  $ tollgate start -c examples/netmetr.yaml --port 0 --admin-port 0
  $ UPSTREAM_URL=http://127.0.0.1:3000 tollgate start -c tollgate.yaml --watch --log-level debug
  $ tollgate start -c tollgate.yaml --workers auto

On start it prints "listening on http://HOST:PORT" (and "admin listening on …").
Signals: SIGTERM/SIGINT drain in-flight requests and exit 0; SIGHUP reloads the config
(with workers: send them to this process, the primary; it passes them on to every worker).
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.`,
    )
    .action(async (opts: { config: string; port?: number; host?: string; adminPort?: number; workers?: number | 'auto' } & ServeOptions) => {
      let handle: LogHandle | undefined;
      let forked = false;
      try {
        // Loaded on use: `tollgate --version`, `--help` and the other verbs do not pay for the gateway.
        const [{ loadConfigFile }, { startGateway }] = await Promise.all([import('../config/load.js'), import('../gateway.js')]);
        // The file's log settings apply unless flags say otherwise. Parsed once: the gateway starts from it.
        const loaded = loadConfigFile(opts.config);
        const { config } = loaded;
        handle = loggerFrom({ logLevel: opts.logLevel ?? config.log.level, logFormat: opts.logFormat ?? config.log.format });
        const overrides = { host: opts.host, port: opts.port, adminPort: opts.adminPort };
        if (cluster.isWorker) return await startWorker(handle, overrides);
        const wanted = opts.workers ?? config.listen.workers;
        const count = wanted === 'auto' ? availableParallelism() : wanted;
        forked = count > 1;
        if (forked) return await startPrimary(handle, opts, count);
        const gw = await startGateway({
          configFile: opts.config,
          loaded,
          log: handle.log,
          overrides: { host: opts.host, port: opts.port, adminPort: opts.adminPort },
        });
        // Handlers first: a script that signals as soon as it reads the line must not hit the default action.
        serveUntilSignal(gw, handle, opts.config, opts);
        process.stdout.write(`listening on ${gw.url}\n`);
        if (gw.adminUrl) process.stdout.write(`admin listening on ${gw.adminUrl}\n`);
      } catch (e) {
        handle?.flush();
        // A worker that failed to start has printed why; the primary exits with its code.
        const workerCode = (e as { exitCode?: unknown }).exitCode;
        process.exitCode = typeof workerCode === 'number' && workerCode > 0 ? workerCode : reportError(e);
        // The IPC channel (worker) or the cluster's handles (primary) would keep the process alive.
        if (cluster.isWorker || forked) process.exit();
      }
    });
}

/** `workers: N`: this process forks and supervises the workers (src/cluster/primary.ts). */
async function startPrimary(handle: LogHandle, opts: { config: string } & ServeOptions, count: number): Promise<void> {
  const { runPrimary } = await import('../cluster/primary.js');
  const { log } = handle;
  const primary = await runPrimary({ configFile: opts.config, count, log });
  log.info({ workers: count, pid: process.pid }, 'primary started its workers');
  // Handlers first: a script that signals as soon as it reads the line must not hit the default action.
  onSignals(handle, { reload: (why) => primary.reload(why), shutdown: () => primary.stop(), watchFile: opts.watch ? opts.config : undefined, stopping: 'shutting down the workers' });
  process.stdout.write(`listening on ${primary.url}\n`);
  if (primary.adminUrl) process.stdout.write(`admin listening on ${primary.adminUrl}\n`);
}

async function startWorker(handle: LogHandle, overrides: { host?: string; port?: number; adminPort?: number }): Promise<void> {
  const { runWorker } = await import('../cluster/worker.js');
  await runWorker({ handle, overrides });
}
