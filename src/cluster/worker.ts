/**
 * A worker process of `tollgate start` with `workers: N` (see src/cluster/primary.ts). It serves the config
 * text the primary sends (never reading the file itself), counts limits through the primary when there is
 * no Redis, and reloads only in step with the other workers: stage (compile), then commit or abort as the
 * primary says. Worker 0 serves the admin listener, with every worker's traffic in its figures.
 * SIGTERM/SIGINT drain it; SIGHUP is the primary's to handle (a process-group SIGHUP must not make a worker
 * reload alone); when the primary goes away the worker drains and exits.
 */
import type { Gateway, StagedReload } from '../gateway.js';
import type { LogHandle } from '../log.js';
import type { ToPrimary, ToWorker } from './protocol.js';
import { createSharedLimiter } from './shared-limiter.js';
import type { LimiterStore } from '../consumers/limiter.js';
import { SetTraffic, snapshotTraffic } from './traffic.js';
import { Traffic } from '../proxy/traffic.js';

/** The admin worker refreshes the other workers' counters this often. */
const TRAFFIC_REFRESH_MS = 1_000;
const EXIT_OK = 0;

const send = (m: ToPrimary) => {
  if (process.connected) process.send!(m);
};

export interface WorkerOptions {
  handle: LogHandle;
  overrides: { host?: string; port?: number; adminPort?: number };
}

function workerSlot(): number {
  return Number(process.env.TOLLGATE_WORKER_SLOT ?? 0);
}

export async function runWorker(opts: WorkerOptions): Promise<void> {
  const { log } = opts.handle;
  const slot = workerSlot();
  const admin = slot === 0;
  const first = await new Promise<{ text: string; name: string }>((resolve) => {
    const onConfig = (m: ToWorker) => {
      if (m?.t !== 'tg-config') return;
      process.off('message', onConfig);
      resolve(m);
    };
    process.on('message', onConfig);
    send({ t: 'tg-hello' });
  });
  // Messages that arrive while the gateway starts (a reload staged meanwhile) wait for it, in order.
  const early: ToWorker[] = [];
  const handler: { on?: (m: ToWorker) => void } = {};
  const receive = (m: ToWorker) => (handler.on ? handler.on(m) : void early.push(m));
  process.on('message', receive);
  let limiter: LimiterStore | undefined;
  let traffic: Traffic | undefined;
  const { startGateway } = await import('../gateway.js');
  const gw: Gateway = await startGateway({
    configText: first,
    log,
    overrides: { ...opts.overrides, ...(admin ? {} : { adminEnabled: false }) },
    worker: {
      sharedLimiter: () => (limiter ??= createSharedLimiter()),
      traffic: (withAdmin) => (traffic ??= withAdmin ? new SetTraffic() : new Traffic()),
    },
  });

  let askId = 0;
  let refresher: NodeJS.Timeout | undefined;
  if (admin && traffic) {
    refresher = setInterval(() => send({ t: 'tg-traffic-ask', id: ++askId }), TRAFFIC_REFRESH_MS);
    refresher.unref();
  }

  const staged = new Map<number, StagedReload>();
  let applying: Promise<void> = Promise.resolve();
  const onMessage = (m: ToWorker) => {
    switch (m?.t) {
      case 'tg-stage':
        gw.stage({ text: m.text, name: m.name }).then(
          (s) => {
            staged.set(m.gen, s);
            send({ t: 'tg-staged', gen: m.gen, ok: true });
          },
          (e: unknown) => {
            log.warn({ err: String((e as Error).message ?? e) }, 'staged config does not compile here');
            send({ t: 'tg-staged', gen: m.gen, ok: false, error: String((e as Error).message ?? e) });
          },
        );
        return;
      case 'tg-commit':
        void staged.get(m.gen)?.commit().finally(() => send({ t: 'tg-committed', gen: m.gen }));
        staged.delete(m.gen);
        return;
      case 'tg-abort':
        void staged.get(m.gen)?.abort();
        staged.delete(m.gen);
        return;
      case 'tg-apply':
        applying = applying.then(() =>
          gw.stage({ text: m.text, name: m.name }).then(
            (s) => s.commit(),
            (e: unknown) => log.error({ err: String((e as Error).message ?? e) }, 'cannot apply the config the other workers serve'),
          ),
        );
        return;
      case 'tg-config': // answered once at start (above)
        return;
      case 'tg-traffic':
        if (traffic) send({ t: 'tg-traffic', gen: m.gen, traffic: snapshotTraffic(traffic) });
        return;
      case 'tg-traffic-all':
        if (traffic instanceof SetTraffic) traffic.setOthers(m.traffic);
        return;
    }
  };
  handler.on = onMessage;
  for (const m of early.splice(0)) onMessage(m);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(refresher);
    log.info({ signal, worker: slot }, 'worker shutting down');
    await gw.shutdown();
    opts.handle.flush();
    process.exit(EXIT_OK);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => undefined);
  process.on('disconnect', () => void stop('primary gone'));

  send({ t: 'tg-listening', url: gw.url, adminUrl: gw.adminUrl });
}
