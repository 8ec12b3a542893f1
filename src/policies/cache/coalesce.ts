/**
 * Request coalescing: concurrent misses for one key wait for the one request that went upstream (the fill)
 * and get its body streamed to them as it arrives, through a fan-out that also feeds the store writer.
 *
 * The fan-out is a tee with backpressure: the upstream is read as fast as the slowest remaining consumer
 * (client or store writer) takes it, so a 200 MB body never piles up in memory. A consumer that goes away
 * (a client disconnecting) is dropped without disturbing the others; the upstream read is abandoned only
 * when nobody, store writer included, still wants the body.
 */
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import type { GatewayError } from '../../errors.js';
import type { Headers } from '../types.js';

/** Body bytes kept so that a consumer joining late still gets the body from its first byte. */
const REPLAY_LIMIT = 1024 * 1024;
const CLIENT_HIGH_WATER_MARK = 64 * 1024;

/** What waiters of a fill learn once the upstream answered (or failed). */
export type FillOutcome =
  /** A response every waiter may use: attach to the fan-out (or take the buffer). */
  | { kind: 'share'; status: number; headers: Headers; fanout: Fanout | undefined; buffer: Buffer | null; vary: string[] | undefined; varyKey: string | undefined }
  /** Not for sharing (private, Set-Cookie, a Vary the waiter does not match): each waiter goes upstream itself. */
  | { kind: 'pass' }
  /** The leader is gone before an answer (its client left): look up again; one waiter becomes the new leader. */
  | { kind: 'retry' }
  /** The entry was updated in place (304): look up again and hit. */
  | { kind: 'updated' }
  /** The upstream failed before answering; waiters share the failure unless they can serve stale. */
  | { kind: 'error'; error: GatewayError }
  /** The upstream answered 5xx/429 and the leader served stale: waiters serve stale too, or go upstream. */
  | { kind: 'stale' };

export class Fill {
  readonly head: Promise<FillOutcome>;
  /** Settles when the fill is over (committed, discarded or failed). */
  readonly done: Promise<void>;
  /** Set by write invalidation: the entry this fill commits is out of date and must not stay. */
  invalidated = false;
  settled = false;
  /** True once `finish()` ran: the fill is over and no longer in the in-flight map. */
  over = false;
  #resolveHead!: (o: FillOutcome) => void;
  #resolveDone!: () => void;

  constructor(readonly key: string) {
    this.head = new Promise((r) => (this.#resolveHead = r));
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  resolve(outcome: FillOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.#resolveHead(outcome);
  }

  finish(): void {
    this.over = true;
    this.resolve({ kind: 'retry' });
    this.#resolveDone();
  }
}

interface Sink {
  write(chunk: Buffer): boolean;
  end(): void;
  fail(err: Error): void;
}

class ClientStream extends Readable implements Sink {
  constructor(private readonly fanout: Fanout) {
    super({ highWaterMark: CLIENT_HIGH_WATER_MARK });
  }
  override _read(): void {
    this.fanout.drained(this);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.fanout.remove(this);
    cb(err);
  }
  write(chunk: Buffer): boolean {
    return this.push(chunk);
  }
  end(): void {
    this.push(null);
  }
  fail(err: Error): void {
    this.destroy(err);
  }
}

class WriterSink implements Sink {
  constructor(
    private readonly fanout: Fanout,
    readonly writer: Writable,
  ) {
    writer.on('drain', () => fanout.drained(this));
    writer.on('close', () => fanout.remove(this));
  }
  write(chunk: Buffer): boolean {
    return this.writer.destroyed ? true : this.writer.write(chunk);
  }
  end(): void {
    if (!this.writer.destroyed) this.writer.end();
  }
  fail(err: Error): void {
    this.writer.destroy(err);
  }
}

export class Fanout {
  readonly #source: Readable;
  readonly #sinks = new Set<Sink>();
  readonly #blocked = new Set<Sink>();
  #replay: Buffer[] | null = [];
  #replayBytes = 0;
  #ended = false;
  #error: Error | undefined;
  #abandon: (() => void) | undefined;
  #onChunk: ((chunk: Buffer) => void) | undefined;

  /**
   * `abandon` is called when no consumer is left (it should abort the upstream request). `onChunk` sees
   * every chunk once (e.g. to hash the body for a generated ETag).
   */
  constructor(source: Readable, opts: { writer?: Writable; abandon?: () => void; onChunk?: (chunk: Buffer) => void } = {}) {
    this.#source = source;
    this.#abandon = opts.abandon;
    this.#onChunk = opts.onChunk;
    if (opts.writer) this.#sinks.add(new WriterSink(this, opts.writer));
    source.on('data', (chunk: Buffer) => this.#data(chunk));
    source.once('end', () => {
      this.#ended = true;
      for (const s of this.#sinks) s.end();
    });
    source.once('error', (err) => this.#fail(err));
    source.once('close', () => {
      if (!this.#ended) this.#fail(this.#error ?? new Error('upstream body closed before its end'));
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A new consumer stream from the first byte, or undefined when the start is no longer kept. */
  attach(): Readable | undefined {
    if (this.#error) return undefined;
    if (this.#replay === null) return undefined;
    const s = new ClientStream(this);
    for (const chunk of this.#replay) s.push(chunk);
    if (this.#ended) s.push(null);
    else this.#sinks.add(s);
    return s;
  }

  #data(chunk: Buffer): void {
    this.#onChunk?.(chunk);
    if (this.#replay !== null) {
      this.#replayBytes += chunk.length;
      if (this.#replayBytes > REPLAY_LIMIT) this.#replay = null;
      else this.#replay.push(chunk);
    }
    for (const s of this.#sinks) {
      if (!s.write(chunk)) this.#blocked.add(s);
    }
    if (this.#sinks.size === 0 && this.#replay === null) this.#giveUp();
    else if (this.#blocked.size > 0) this.#source.pause();
  }

  /** Nobody left and no late joiner can be served from the start: stop reading the upstream. */
  #giveUp(): void {
    const abandon = this.#abandon;
    this.#abandon = undefined;
    abandon?.();
    this.#source.destroy();
  }

  #fail(err: Error): void {
    if (this.#error || this.#ended) return;
    this.#error = err;
    this.#replay = null;
    for (const s of [...this.#sinks]) s.fail(err);
    this.#sinks.clear();
    this.#blocked.clear();
  }

  /** @internal A consumer can take more. */
  drained(s: Sink): void {
    if (this.#blocked.delete(s) && this.#blocked.size === 0 && !this.#ended) this.#source.resume();
  }

  /** @internal A consumer went away. */
  remove(s: Sink): void {
    if (!this.#sinks.delete(s)) return;
    this.#blocked.delete(s);
    if (this.#ended || this.#error) return;
    if (this.#sinks.size === 0 && this.#replay === null) return this.#giveUp();
    if (this.#blocked.size === 0) this.#source.resume();
  }
}
