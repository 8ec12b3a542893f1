/**
 * Usage counting off the request path: each request adds to an in-memory counter per application, metric
 * and minute; every second by default (`limits.usageFlush`, so a crash loses at most that) and at shutdown
 * the counters go to the store in one batch, expanded into every calendar period (minute … eternity) as
 * 3scale reports them. The store adds batches up, so several
 * instances flushing into one Postgres give the right totals without sharing anything else.
 *
 * A flush that fails keeps its counters for the next one (bounded), so a store outage loses nothing short.
 */
import type { Logger } from 'pino';
import type { UsageIncrement } from '../store/types.js';
import { PERIODS } from '../store/types.js';
import { serialized } from './serial.js';

const MINUTE_MS = 60_000;
/** Beyond this many pending rows a failing store starts losing counts (and says so) instead of memory. */
const MAX_PENDING = 200_000;

export type UsageSink = (batch: readonly UsageIncrement[]) => Promise<void>;

export interface UsageCounter {
  /** Adds `delta` to the application's metric in the current minute (or the minute of `at`, ms: reports with a timestamp). Never throws, never waits. */
  add(appId: string, metric: string, delta: number, at?: number): void;
  /** Writes what was counted so far; resolves when the store has it. */
  flush(): Promise<void>;
  /** How long the oldest count not yet in the store has waited, ms (0 when everything is written). */
  lagMs(): number;
  close(): Promise<void>;
}

interface Bucket {
  appId: string;
  metric: string;
  minute: number;
  delta: number;
}

class BufferedUsage implements UsageCounter {
  #pending = new Map<string, Bucket>();
  /** When the oldest pending count arrived (undefined: nothing pending). */
  #pendingSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: UsageSink,
    private readonly log: Logger | undefined,
    flushMs: number,
    private readonly now: () => number,
  ) {
    if (flushMs > 0) {
      this.#timer = setInterval(() => void this.flush(), flushMs);
      this.#timer.unref();
    }
  }

  add(appId: string, metric: string, delta: number, at?: number): void {
    const now = this.now();
    this.#pendingSince ??= now;
    const minute = Math.floor((at ?? now) / MINUTE_MS);
    const key = `${appId}\0${metric}\0${minute}`;
    const b = this.#pending.get(key);
    if (b) b.delta += delta;
    else this.#pending.set(key, { appId, metric, minute, delta });
  }

  readonly flush = serialized(() => this.#flushOnce());

  async #flushOnce(): Promise<void> {
    if (this.#pending.size === 0) return;
    const taken = this.#pending;
    const since = this.#pendingSince;
    this.#pending = new Map();
    this.#pendingSince = undefined;
    const batch: UsageIncrement[] = [];
    for (const b of taken.values()) {
      const at = new Date(b.minute * MINUTE_MS);
      for (const period of PERIODS) batch.push({ appId: b.appId, metric: b.metric, period, periodStart: at, delta: b.delta });
    }
    try {
      await this.sink(batch);
    } catch (err) {
      // Put the counts back (merging with what arrived meanwhile) for the next flush.
      let dropped = 0;
      this.#pendingSince = since;
      for (const [key, b] of taken) {
        const cur = this.#pending.get(key);
        if (cur) cur.delta += b.delta;
        else if (this.#pending.size < MAX_PENDING) this.#pending.set(key, b);
        else dropped += b.delta;
      }
      this.log?.warn({ err: (err as Error).message, rows: batch.length, ...(dropped ? { dropped } : {}) }, 'usage flush failed; will retry');
    }
  }

  lagMs(): number {
    return this.#pendingSince === undefined ? 0 : Math.max(0, this.now() - this.#pendingSince);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}

export function createUsageCounter(sink: UsageSink, opts: { flushMs: number; log?: Logger; now?: () => number }): UsageCounter {
  return new BufferedUsage(sink, opts.log, opts.flushMs, opts.now ?? Date.now);
}
