/**
 * `tollgate start` with `workers: N` (N > 1): this process is the primary. It serves no request itself; it
 *   - validates the config (parse and compile, as `tollgate check`), opens the store and syncs declared
 *     consumers once (the workers never write declarations), and holds the shared limit counters when
 *     there is no Redis (src/cluster/shared-limiter.ts);
 *   - forks N workers (node:cluster; they share the listening sockets) and sends each the config text it
 *     accepted, so every worker serves the same bytes even while the file is being edited;
 *   - prints `listening on …` once every worker accepts; restarts a worker that dies (at once, then backing
 *     off while it keeps dying); passes SIGTERM/SIGINT (drain) to all and exits when they have;
 *   - reloads all or nothing: on SIGHUP (or --watch) every worker compiles the new config without serving
 *     it; only when all of them succeeded does the primary sync the store and tell them to swap; otherwise
 *     every worker drops what it compiled and the running config keeps serving everywhere.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../config/problems.js';
import { parseConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import type { LimiterStore } from '../consumers/limiter.js';
import type { Store } from '../store/index.js';
import { answerLimiter } from './shared-limiter.js';
import type { LimiterAsk } from './shared-limiter.js';
import type { ToPrimary, ToWorker } from './protocol.js';
import { mergeTraffic } from './traffic.js';

/** A worker that lived at least this long before dying is restarted at once; one that dies sooner backs off. */
const HEALTHY_AFTER_MS = 10_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** How long a worker may take to compile a staged config before the reload is abandoned. */
const STAGE_TIMEOUT_MS = 60_000;

export interface PrimaryOptions {
  configFile: string;
  count: number;
  log: Logger;
  /** Beats listen.shutdownGrace's wait for workers (tests); otherwise that grace plus 10 s. */
  stopTimeoutMs?: number;
  /** Told each outcome of a reload (log lines are the primary's only output after start). */
  onReload?: (ok: boolean) => void;
}

export interface Primary {
  url: string;
  adminUrl: string | undefined;
  reload(why: string): Promise<void>;
  stop(): Promise<void>;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  failures: number;
  timer?: NodeJS.Timeout;
  listening?: { url: string; adminUrl?: string };
}

function readConfig(file: string): { text: string; loaded: LoadedConfig } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ file, path: [], message: `cannot read config file (${(e as NodeJS.ErrnoException).code ?? String(e)})` }]);
  }
  return { text, loaded: parseConfig(text, file) };
}

/** Parse and compile, as `tollgate check` does; nothing is opened or written. */
async function validate(file: string, log: Logger): Promise<{ text: string; loaded: LoadedConfig }> {
  const r = readConfig(file);
  const { usesConsumers } = await import('../gateway/consumers.js');
  if (usesConsumers(r.loaded.config) && /^sqlite:(\/\/)?:memory:$/.test(r.loaded.config.store)) {
    throw new ConfigError([
      {
        file,
        line: r.loaded.source.lineOf(['store']),
        path: ['store'],
        message: 'sqlite::memory: is private to one process: worker processes need a store they share (a sqlite: file or postgres://)',
      },
    ]);
  }
  const { compileConfig } = await import('../config/compile.js');
  const snap = await compileConfig(r.loaded, { log });
  await snap.retire(undefined);
  return r;
}

export async function runPrimary(opts: PrimaryOptions): Promise<Primary> {
  const { log, configFile } = opts;
  let current = await validate(configFile, log);
  let store: Store | undefined;
  let limiter: LimiterStore | undefined;

  /** Opens the store (migrating it before any worker does) and the shared counters when the config has consumers. */
  const openConsumers = async (l: LoadedConfig) => {
    const { usesConsumers } = await import('../gateway/consumers.js');
    if (!usesConsumers(l.config) || store) return;
    const [{ openStore, redactStoreUrl }, { createPersistedMemoryLimiterStore }] = await Promise.all([import('../store/index.js'), import('../consumers/limit-journal.js')]);
    try {
      store = await openStore(l.config.store, { timeouts: { connectMs: l.config.limits.storeTimeout, queryMs: 10 * l.config.limits.storeTimeout } });
    } catch (err) {
      throw new Error(`cannot open the store ${redactStoreUrl(l.config.store)}: ${(err as Error).message}`, { cause: err });
    }
    // With Redis the workers count there, as single processes do; without it, here.
    if (!l.config.redis.url) limiter = await createPersistedMemoryLimiterStore(store, { flushMs: l.config.limits.usageFlush, log });
  };
  const sync = async (l: LoadedConfig) => {
    const { usesConsumers, syncConfig } = await import('../gateway/consumers.js');
    if (!store || !usesConsumers(l.config)) return;
    const report = await syncConfig(store, l, (line) => log.warn(line));
    if (report.created || report.updated || report.revoked) log.info({ ...report }, 'config consumers synced into the store');
  };
  const closeConsumers = async () => {
    await limiter?.close();
    await store?.close();
  };

  try {
    await openConsumers(current.loaded);
    await sync(current.loaded);
  } catch (e) {
    await closeConsumers();
    throw e;
  }

  const slots: Slot[] = Array.from({ length: opts.count }, (_, index) => ({ index, worker: undefined, startedAt: 0, failures: 0 }));
  let stopping = false;
  let started = false;
  let onStartFailure: ((e: Error) => void) | undefined;
  let onAllListening: (() => void) | undefined;
  /** Answers awaited from workers, by `${kind}:${gen}:${worker id}`. */
  const waiting = new Map<string, (m: ToPrimary) => void>();
  const slotOf = (w: Worker) => slots.find((s) => s.worker === w);

  const fork = (slot: Slot) => {
    slot.startedAt = Date.now();
    slot.listening = undefined;
    slot.worker = cluster.fork({ TOLLGATE_WORKER_SLOT: String(slot.index) });
  };

  cluster.on('message', (worker: Worker, m: ToPrimary | LimiterAsk) => {
    if (!m || typeof m !== 'object') return;
    if (m.t === 'tg-lim') return answerLimiter(limiter, worker, m);
    const slot = slotOf(worker);
    if (m.t === 'tg-hello') return void worker.send({ t: 'tg-config', text: current.text, name: configFile } satisfies ToWorker);
    if (m.t === 'tg-listening' && slot) {
      slot.listening = { url: m.url, adminUrl: m.adminUrl };
      if (started) log.info({ worker: slot.index, pid: worker.process.pid }, 'worker replaced and listening');
      if (slots.every((s) => s.listening)) onAllListening?.();
      return;
    }
    if (m.t === 'tg-traffic-ask') return void collectTraffic(worker, m.id);
    waiting.get(`${m.t}:${'gen' in m ? m.gen : ''}:${worker.id}`)?.(m);
  });

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    const slot = slotOf(worker);
    if (!slot) return;
    slot.worker = undefined;
    slot.listening = undefined;
    for (const [k, resolve] of waiting) if (k.endsWith(`:${worker.id}`)) resolve({ t: 'tg-gone' });
    if (stopping) return;
    if (!started) return onStartFailure?.(Object.assign(new Error(`worker ${slot.index} exited with ${code ?? signal} before listening`), { exitCode: code }));
    const lived = Date.now() - slot.startedAt;
    slot.failures = lived >= HEALTHY_AFTER_MS ? 0 : slot.failures + 1;
    const delay = slot.failures <= 1 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (slot.failures - 2));
    log.warn({ worker: slot.index, pid: worker.process.pid, code, signal, livedMs: lived, restartInMs: delay }, delay ? 'worker died again soon after start; restarting after a pause' : 'worker died; restarting it');
    slot.timer = setTimeout(() => {
      if (!stopping) fork(slot);
    }, delay);
  });

  /** The admin worker's /metrics and dashboard: every worker's traffic counters, summed. */
  let trafficGen = 0;
  const collectTraffic = async (asker: Worker, id: number) => {
    const gen = ++trafficGen;
    const live = slots.flatMap((s) => (s.worker && s.listening && s.worker !== asker ? [s.worker] : []));
    const answers = await Promise.all(
      live.map(
        (w) =>
          new Promise<ToPrimary>((resolve) => {
            const key = `tg-traffic:${gen}:${w.id}`;
            const timer = setTimeout(() => resolve({ t: 'tg-gone' }), 2_000);
            waiting.set(key, (m) => (clearTimeout(timer), waiting.delete(key), resolve(m)));
            w.send({ t: 'tg-traffic', gen } satisfies ToWorker);
          }),
      ),
    );
    const parts = answers.flatMap((a) => (a.t === 'tg-traffic' ? [a.traffic] : []));
    if (asker.isConnected()) asker.send({ t: 'tg-traffic-all', id, traffic: mergeTraffic(parts), workers: parts.length } satisfies ToWorker);
  };

  await new Promise<void>((resolve, reject) => {
    onAllListening = resolve;
    onStartFailure = reject;
    for (const s of slots) fork(s);
  }).catch(async (e: Error & { exitCode?: number | null }) => {
    stopping = true;
    for (const s of slots) s.worker?.process.kill('SIGKILL');
    await closeConsumers();
    throw e;
  });
  started = true;
  onAllListening = undefined;
  const first = slots[0].listening!;

  let gen = 0;
  let reloading: Promise<void> = Promise.resolve();
  const ask = (w: Worker, msg: ToWorker & { gen: number }, answer: string): Promise<ToPrimary> =>
    new Promise((resolve) => {
      const key = `${answer}:${msg.gen}:${w.id}`;
      const timer = setTimeout(() => resolve({ t: 'tg-gone' }), STAGE_TIMEOUT_MS);
      waiting.set(key, (m) => {
        clearTimeout(timer);
        waiting.delete(key);
        resolve(m);
      });
      w.send(msg);
    });

  const reloadOnce = async () => {
    const next = await validate(configFile, log);
    await openConsumers(next.loaded);
    const g = ++gen;
    // Workers still starting are not asked: they get the new config once it is committed (tg-apply below).
    const live = slots.flatMap((s) => (s.worker && s.listening ? [s.worker] : []));
    const staged = await Promise.all(live.map((w) => ask(w, { t: 'tg-stage', gen: g, text: next.text, name: configFile }, 'tg-staged')));
    const failed = staged.find((m) => m.t !== 'tg-staged' || !m.ok);
    let syncError: unknown;
    if (!failed) await sync(next.loaded).catch((e: unknown) => (syncError = e));
    if (failed || syncError) {
      for (const w of live) if (w.isConnected()) w.send({ t: 'tg-abort', gen: g } satisfies ToWorker);
      if (syncError) throw syncError as Error;
      throw new Error(failed!.t === 'tg-staged' ? (failed!.error ?? 'a worker could not compile it') : 'a worker went away while compiling it');
    }
    current = next;
    await Promise.all(live.map((w) => ask(w, { t: 'tg-commit', gen: g }, 'tg-committed')));
    // A worker restarted meanwhile asked for the config before it changed: it gets the new one now.
    for (const s of slots) if (s.worker && !live.includes(s.worker) && s.worker.isConnected()) s.worker.send({ t: 'tg-apply', text: next.text, name: configFile } satisfies ToWorker);
  };

  return {
    url: first.url,
    adminUrl: slots.find((s) => s.listening?.adminUrl)?.listening?.adminUrl,
    reload(why) {
      reloading = reloading
        .catch(() => undefined)
        .then(reloadOnce)
        .then(
          () => {
            log.info({ why, workers: opts.count }, 'reload done');
            opts.onReload?.(true);
          },
          (e: unknown) => {
            const detail = e instanceof ConfigError ? e.problems.map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.path.join('.')}: ${p.message}`).join('; ') : String((e as Error).message ?? e);
            log.error({ err: detail, why }, 'reload failed; the previous config keeps serving in every worker');
            opts.onReload?.(false);
          },
        );
      return reloading;
    },
    async stop() {
      stopping = true;
      for (const s of slots) clearTimeout(s.timer);
      const alive = slots.flatMap((s) => (s.worker ? [s.worker] : []));
      const exited = Promise.all(alive.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r())))));
      for (const w of alive) w.process.kill('SIGTERM');
      const grace = opts.stopTimeoutMs ?? current.loaded.config.listen.shutdownGrace + 10_000;
      const timer = setTimeout(() => {
        log.warn('workers did not stop in time; killing them');
        for (const w of alive) if (!w.isDead()) w.process.kill('SIGKILL');
      }, grace);
      await exited;
      clearTimeout(timer);
      // After the workers drained: their last limiter calls are counted in the final flush.
      await closeConsumers();
    },
  };
}
