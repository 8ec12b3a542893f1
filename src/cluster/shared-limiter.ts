/**
 * Limit counters shared by worker processes without Redis: the primary holds the one in-memory limiter
 * (persisted to the store by src/consumers/limit-journal.ts, as in a single process) and each worker asks it
 * over the cluster IPC channel. One batch is out at a time: every call made while it is out goes in the next
 * message, so under load one message carries many requests (measured: bench/shared-limiter-cost.js). Each consume
 * is atomic in the primary (one synchronous Map update), so a limit of 100 admits exactly 100 across workers.
 */
import type { Worker } from 'node:cluster';
import type { CounterResult, LimiterStore } from '../consumers/limiter.js';

/** A consume or refund: [op, key, points, ttl]; a peek: ['p', key]. */
type Op = ['c' | 'r', string, number, number] | ['p', string];

export interface LimiterAsk {
  t: 'tg-lim';
  id: number;
  ops: Op[];
}
interface LimiterAnswer {
  t: 'tg-lim';
  id: number;
  /** One count per op (refunds: 0); absent with `error`. */
  counts?: number[];
  error?: string;
}

/** A worker waits this long for the primary (it answers in microseconds; only a hung primary takes longer). */
const ANSWER_TIMEOUT_MS = 2_000;

/** The primary's side: answers a worker's batch from `limiter` (synchronous memory store). */
export function answerLimiter(limiter: LimiterStore | undefined, worker: Worker, ask: LimiterAsk): void {
  if (!limiter) return void worker.send({ t: 'tg-lim', id: ask.id, error: 'no shared limiter in the primary' } satisfies LimiterAnswer);
  const counts: number[] = [];
  try {
    for (const op of ask.ops) {
      if (op[0] === 'c') counts.push((limiter.consume(op[1], op[2], op[3]) as CounterResult).count);
      else if (op[0] === 'r') counts.push((limiter.refund(op[1], op[2], op[3]), 0));
      else counts.push(limiter.peek(op[1]) as number);
    }
  } catch (e) {
    return void worker.send({ t: 'tg-lim', id: ask.id, error: (e as Error).message } satisfies LimiterAnswer);
  }
  // A worker that just died has no channel: its requests are gone with it.
  if (worker.isConnected()) worker.send({ t: 'tg-lim', id: ask.id, counts } satisfies LimiterAnswer);
}

interface Batch {
  ops: Op[];
  waiters: ((counts: number[] | Error) => void)[];
}

/** The worker's side: a LimiterStore whose counters live in the primary. */
class SharedLimiter implements LimiterStore {
  readonly kind = 'shared' as const;
  #next = 1;
  #batch: Batch | undefined;
  readonly #inflight = new Map<number, { batch: Batch; timer: NodeJS.Timeout }>();
  readonly #onMessage = (m: unknown) => {
    const a = m as Partial<LimiterAnswer> | null;
    if (a?.t !== 'tg-lim' || typeof a.id !== 'number') return;
    const entry = this.#inflight.get(a.id);
    if (!entry) return;
    this.#settle(a.id, a.counts ?? new Error(`shared limiter: ${a.error ?? 'no answer'}`));
  };
  /** Whether the next batch is already due to go (at the end of this event-loop turn). */
  #scheduled = false;

  constructor() {
    process.on('message', this.#onMessage);
  }

  #ask(ops: Op[]): Promise<number[]> {
    if (!process.send || !process.connected) return Promise.reject(new Error('shared limiter: no channel to the primary'));
    const batch = (this.#batch ??= { ops: [], waiters: [] });
    // Like Nagle's algorithm: while a batch is out, the next one gathers everything asked meanwhile and goes
    // when the answer comes, so under load one message carries many requests; when idle, it goes this turn.
    if (this.#inflight.size === 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#send());
    }
    const from = batch.ops.length;
    batch.ops.push(...ops);
    return new Promise<number[]>((resolve, reject) => {
      batch.waiters.push((r) => (r instanceof Error ? reject(r) : resolve(r.slice(from, from + ops.length))));
    });
  }

  #send(): void {
    this.#scheduled = false;
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    const id = this.#next++;
    const timer = setTimeout(() => this.#settle(id, new Error('shared limiter: the primary did not answer')), ANSWER_TIMEOUT_MS);
    this.#inflight.set(id, { batch, timer });
    if (!process.connected) return this.#settle(id, new Error('shared limiter: no channel to the primary'));
    process.send!({ t: 'tg-lim', id, ops: batch.ops } satisfies LimiterAsk, undefined, undefined, (err: Error | null) => {
      if (err) this.#settle(id, err);
    });
  }

  #settle(id: number, result: number[] | Error): void {
    const entry = this.#inflight.get(id);
    if (!entry) return;
    this.#inflight.delete(id);
    clearTimeout(entry.timer);
    for (const w of entry.batch.waiters) w(result);
    // What gathered while this batch was out goes now.
    if (this.#inflight.size === 0 && this.#batch && !this.#scheduled) this.#send();
  }

  async consumeMany(items: readonly { key: string; points: number; ttlSeconds: number }[]): Promise<number[]> {
    return this.#ask(items.map((i): Op => ['c', i.key, i.points, i.ttlSeconds]));
  }

  async consume(key: string, points: number, ttlSeconds: number): Promise<CounterResult> {
    const [count] = await this.#ask([['c', key, points, ttlSeconds]]);
    return { count };
  }

  async refund(key: string, points: number, ttlSeconds: number): Promise<void> {
    await this.#ask([['r', key, points, ttlSeconds]]);
  }

  async peek(key: string): Promise<number> {
    const [count] = await this.#ask([['p', key]]);
    return count;
  }

  async close(): Promise<void> {
    process.off('message', this.#onMessage);
  }
}

/** In a worker process: counters held by the primary (see answerLimiter). */
export function createSharedLimiter(): LimiterStore {
  return new SharedLimiter();
}
