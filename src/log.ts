/**
 * Logging: pino JSON lines, written asynchronously (never a synchronous write on the request path), or
 * pino-pretty in a worker thread when stdout is a terminal. Nothing secret is logged: the access log holds
 * no headers, and URLs pass through the snapshot's redactor.
 */
import pino from 'pino';
import type { Logger } from 'pino';

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LogHandle {
  log: Logger;
  /** Writes out what is buffered; call before exiting. */
  flush(): void;
}

export function createLogger(level: string, format: LogFormat, dest: number | string = 1): LogHandle {
  const pretty = format === 'pretty' || (format === 'auto' && dest === 1 && process.stdout.isTTY === true);
  if (pretty) {
    const transport = pino.transport({ target: 'pino-pretty', options: { destination: dest, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } });
    const log = pino({ level, base: undefined }, transport);
    return { log, flush: () => log.flush() };
  }
  const stream = pino.destination({ dest, sync: false, minLength: 4096 });
  const log = pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stream);
  // Lines are batched (4 KiB) to keep writes off the request path; a timer bounds how stale the log gets.
  setInterval(() => {
    try {
      stream.flush();
    } catch {
      // Not ready yet: the next tick will flush.
    }
  }, 500).unref();
  return {
    log,
    flush: () => {
      try {
        stream.flushSync();
      } catch {
        // Not ready yet (nothing written) or already closed: nothing to flush.
      }
    },
  };
}
