/**
 * Limit counters that survive a restart without Redis. The in-process counters stay authoritative (the
 * request path does one Map update more per counter, no I/O); their changes are summed per key and written
 * to the SQL store in one batch every `limits.usageFlush` (1 s by default) and at shutdown, and loaded at
 * start. So a daily, monthly or eternity limit is not reset by a deploy, and a crash loses at most the
 * last flush interval of counts.
 *
 * Per-second throttle windows are not written: they end before a restart is over. The store adds batches
 * up, so gateways that share a Postgres without Redis each start from the total of all of them (their
 * limits are per instance while they run, see the README).
 */
import type { Logger } from 'pino';
import type { LimitCounterDelta, LimitCounterJournal } from '../store/types.js';
import { createMemoryLimiterStore } from './limiter.js';
import type { CounterJournal, LimiterStore } from './limiter.js';
import { serialized } from './serial.js';

/** Windows with this many seconds left or fewer are not persisted (per-second throttles). */
const MIN_PERSISTED_TTL_S = 2;
/** Beyond this many pending keys a failing store starts losing counter changes (and says so). */
const MAX_PENDING = 200_000;
/** Ended windows are deleted from the store this often. */
const PRUNE_EVERY_MS = 10 * 60_000;

type CounterStore = LimitCounterJournal;

interface Pending {
  delta: number;
  /** ms since epoch; null: never. */
  expiresAt: number | null;
}

class Journal implements CounterJournal {
  #pending = new Map<string, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #lastPrune = 0;
  #dropped = 0;

  constructor(
    private readonly store: CounterStore,
    private readonly log: Logger | undefined,
    private readonly now: () => number,
  ) {}

  start(flushMs: number): void {
    if (flushMs <= 0) return;
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  note(key: string, points: number, ttlSeconds: number): void {
    if (ttlSeconds > 0 && ttlSeconds <= MIN_PERSISTED_TTL_S) return;
    const p = this.#pending.get(key);
    if (p) p.delta += points;
    else if (this.#pending.size < MAX_PENDING) this.#pending.set(key, { delta: points, expiresAt: ttlSeconds === 0 ? null : this.now() + ttlSeconds * 1000 });
    else this.#dropped++;
  }

  readonly flush = serialized(() => this.#flushOnce());

  async #flushOnce(): Promise<void> {
    if (this.#dropped) {
      this.log?.warn({ dropped: this.#dropped }, 'limit counter changes dropped: too many pending while the store failed');
      this.#dropped = 0;
    }
    const now = this.now();
    if (now - this.#lastPrune > PRUNE_EVERY_MS) {
      this.#lastPrune = now;
      await this.store.pruneLimitCounters(new Date(now)).catch((err: unknown) => this.log?.warn({ err: (err as Error).message }, 'pruning ended limit counters failed'));
    }
    if (this.#pending.size === 0) return;
    const taken = this.#pending;
    this.#pending = new Map();
    const batch: LimitCounterDelta[] = [];
    for (const [key, p] of taken) if (p.delta !== 0) batch.push({ key, delta: p.delta, expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt) });
    try {
      await this.store.addLimitCounters(batch);
    } catch (err) {
      // Put the changes back (merging with what arrived meanwhile) for the next flush.
      for (const [key, p] of taken) {
        const cur = this.#pending.get(key);
        if (cur) cur.delta += p.delta;
        else if (this.#pending.size < MAX_PENDING) this.#pending.set(key, p);
        else this.#dropped++;
      }
      this.log?.warn({ err: (err as Error).message, counters: batch.length }, 'limit counter flush failed; will retry');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}

/**
 * The in-process limiter, started from the counters `store` holds and journaling its changes back to it
 * every `flushMs` and on close (close it before the store).
 */
export async function createPersistedMemoryLimiterStore(
  store: CounterStore,
  opts: { flushMs: number; log?: Logger; now?: () => number },
): Promise<LimiterStore> {
  const now = opts.now ?? Date.now;
  const journal = new Journal(store, opts.log, now);
  const at = now();
  const rows = await store.loadLimitCounters(new Date(at));
  const restored = rows.map((r) => ({ key: r.key, value: r.value, ttlSeconds: r.expiresAt === null ? 0 : Math.max(1, Math.ceil((r.expiresAt.getTime() - at) / 1000)) }));
  journal.start(opts.flushMs);
  return createMemoryLimiterStore({
    journal,
    restored,
    onClose: () => journal.close().catch((err: unknown) => opts.log?.error({ err: (err as Error).message }, 'final limit counter flush failed')),
  });
}
