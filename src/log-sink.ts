/**
 * The destination every JSON log line goes to (pino's and the access log's): lines are copied once into a
 * large preallocated buffer and written to the file descriptor from libuv's thread pool when at least
 * MIN_WRITE bytes are pending (or FLUSH_MS after the first pending line). One destination for both, so
 * their lines never interleave inside a line on a shared pipe, and one buffer, so nothing is buffered twice.
 *
 * Why not pino.destination (sonic-boom): its `write` measures the whole pending string on every call
 * (`Buffer.byteLength(bufs[last])`), which with a large minimum write costs more per line than the line
 * itself; with a small one, a write per few lines. Here a line costs one `utf8Write` into the buffer.
 *
 * Exit: pending lines are written synchronously on `exit` (normal exit, process.exit, an uncaught
 * exception), as pino.destination does; a write already handed to the thread pool is left to finish there.
 */
import { closeSync, fsyncSync, openSync, write as fsWrite, writeSync } from 'node:fs';

/** A write goes out once this much is pending... */
const MIN_WRITE = 64 * 1024;
/** ...or this long after the first pending line. */
const FLUSH_MS = 50;
/** Size of each buffer; a longer line gets a buffer of its own. */
const CHUNK = 256 * 1024;
/** When the destination cannot keep up, lines beyond this many pending bytes are dropped (and counted). */
const MAX_PENDING = 32 * 1024 * 1024;
/** Retry delay after EAGAIN (a non-blocking pipe that is full). */
const RETRY_MS = 10;
/** On exit, give up on a destination that stays full for this long instead of hanging the exit. */
const EXIT_RETRY_LIMIT_MS = 2_000;

/**
 * Buffer#utf8Write, the native call behind Buffer#write without its argument parsing (a third of the cost of
 * buffering a short line); untyped, so looked up with a fallback.
 */
const utf8Write = (Buffer.prototype as unknown as { utf8Write?: (this: Buffer, s: string, offset: number, length: number) => number }).utf8Write;

interface Chunk {
  buf: Buffer;
  /** Bytes filled. */
  len: number;
  /** Bytes already written (a partial write). */
  off: number;
}

export class LogSink {
  readonly #fd: number;
  readonly #ownsFd: boolean;
  /** The buffer lines are copied into. */
  #cur: Chunk;
  /** Sealed buffers waiting to be written, in order. */
  readonly #queue: Chunk[] = [];
  readonly #spare: Buffer[] = [];
  #pending = 0;
  #writing = false;
  #timer: NodeJS.Timeout | undefined;
  #dropped = 0;
  #broken = false;
  readonly #onExit = () => this.flushSync();

  constructor(dest: number | string = 1) {
    this.#ownsFd = typeof dest === 'string';
    this.#fd = typeof dest === 'string' ? openSync(dest, 'a') : dest;
    this.#cur = { buf: Buffer.allocUnsafe(CHUNK), len: 0, off: 0 };
    process.on('exit', this.#onExit);
  }

  /** Appends `line` (one or more whole lines, each ending in \n). Never blocks, never throws. */
  write(line: string): boolean {
    if (this.#broken) return true;
    if (this.#pending + line.length > MAX_PENDING) {
      this.#dropped++;
      return false;
    }
    let cur = this.#cur;
    // utf8 needs at most 3 bytes per UTF-16 unit.
    if (cur.len + line.length * 3 > CHUNK) {
      if (line.length * 3 > CHUNK) {
        this.#seal();
        const buf = Buffer.from(line);
        this.#queue.push({ buf, len: buf.length, off: 0 });
        this.#pending += buf.length;
        this.#kick();
        return true;
      }
      this.#seal();
      cur = this.#cur;
    }
    const n = utf8Write ? utf8Write.call(cur.buf, line, cur.len, CHUNK - cur.len) : cur.buf.write(line, cur.len);
    cur.len += n;
    this.#pending += n;
    if (this.#pending >= MIN_WRITE) this.#kick();
    else this.#timer ??= setTimeout(this.#onTimer, FLUSH_MS).unref();
    return true;
  }

  /** Starts writing everything pending now; `cb` (pino's logger.flush) runs when it is written. */
  flush(cb?: (err?: Error) => void): void {
    this.#seal();
    this.#kick();
    if (cb) this.#whenIdle(cb);
  }

  /** Writes everything pending synchronously (exit, shutdown). */
  flushSync(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#broken) return;
    this.#seal();
    // A chunk in flight is the thread pool's; the ones after it are written here, in order.
    const from = this.#writing ? 1 : 0;
    const started = Date.now();
    while (this.#queue.length > from) {
      const c = this.#queue[from];
      try {
        c.off += writeSync(this.#fd, c.buf, c.off, c.len - c.off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code === 'EAGAIN' || code === 'EBUSY') && Date.now() - started < EXIT_RETRY_LIMIT_MS) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS);
          continue;
        }
        this.#fail(err as NodeJS.ErrnoException);
        return;
      }
      if (c.off >= c.len) this.#release(this.#queue.splice(from, 1)[0]);
    }
    try {
      fsyncSync(this.#fd);
    } catch {
      // Pipes and terminals cannot fsync.
    }
  }

  /** Writes what is pending and stops (tests; a process exit needs nothing: the exit hook writes). */
  end(): void {
    this.flushSync();
    process.off('exit', this.#onExit);
    if (this.#ownsFd) closeSync(this.#fd);
  }

  readonly #onTimer = () => {
    this.#timer = undefined;
    this.flush();
  };

  #seal(): void {
    const cur = this.#cur;
    if (cur.len === 0) return;
    this.#queue.push(cur);
    this.#cur = { buf: this.#spare.pop() ?? Buffer.allocUnsafe(CHUNK), len: 0, off: 0 };
  }

  #release(c: Chunk): void {
    this.#pending -= c.len;
    if (c.buf.length === CHUNK && this.#spare.length < 2) this.#spare.push(c.buf);
  }

  #kick(): void {
    if (this.#writing || this.#broken) return;
    if (this.#queue.length === 0) {
      if (this.#cur.len === 0) return;
      this.#seal();
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const c = this.#queue[0];
    this.#writing = true;
    fsWrite(this.#fd, c.buf, c.off, c.len - c.off, this.#written);
  }

  readonly #written = (err: NodeJS.ErrnoException | null, n: number) => {
    this.#writing = false;
    if (err) {
      if (err.code === 'EAGAIN' || err.code === 'EBUSY') {
        setTimeout(() => this.#kick(), RETRY_MS).unref();
        return;
      }
      return this.#fail(err);
    }
    const c = this.#queue[0];
    c.off += n;
    if (c.off >= c.len) this.#release(this.#queue.shift()!);
    if (this.#dropped > 0 && this.#pending < MAX_PENDING / 2) {
      const dropped = this.#dropped;
      this.#dropped = 0;
      this.write(`{"level":40,"time":"${new Date().toISOString()}","dropped":${dropped},"msg":"log lines dropped: the log destination did not keep up"}\n`);
    }
    // Keep writing while a full write is pending; the rest waits for more lines or the timer.
    if (this.#queue.length > 0 || this.#pending >= MIN_WRITE) this.#kick();
    else if (this.#cur.len > 0) this.#timer ??= setTimeout(this.#onTimer, FLUSH_MS).unref();
    this.#notifyIdle();
  };

  #idleWaiters: ((err?: Error) => void)[] = [];

  #whenIdle(cb: (err?: Error) => void): void {
    if (!this.#writing && this.#queue.length === 0) return cb();
    this.#idleWaiters.push(cb);
  }

  #notifyIdle(): void {
    if (this.#writing || this.#queue.length > 0 || this.#idleWaiters.length === 0) return;
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const cb of w) cb();
  }

  #fail(err: NodeJS.ErrnoException): void {
    // The log never takes the gateway down: a closed pipe (EPIPE) or a full disk stops logging, said once.
    this.#broken = true;
    this.#queue.length = 0;
    this.#pending = 0;
    if (err.code !== 'EPIPE') process.stderr.write(`log destination failed, logging stopped: ${err.message}\n`);
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const cb of w) cb(err);
  }
}
