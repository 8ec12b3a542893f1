/**
 * Logging: pino JSON lines, written asynchronously in large writes (never a synchronous write on the request path), or
 * pino-pretty in a worker thread when stdout is a terminal. Nothing secret is logged: the access log holds
 * no headers, and URLs pass through the snapshot's redactor.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import { LogSink } from './log-sink.js';

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
  // One destination for pino's lines and the access log's (src/log-sink.ts): large writes from the thread
  // pool, written out synchronously on exit.
  const sink = new LogSink(dest);
  const log = pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, sink);
  return { log, flush: () => sink.flushSync() };
}
