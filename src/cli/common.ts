/** What the CLI verbs share: exit codes, config error printing, the logger from flags. */
import { ConfigError, formatProblem } from '../config/load.js';
import { createLogger } from '../log.js';
import type { LogFormat, LogHandle } from '../log.js';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export const DEFAULT_CONFIG = process.env.TOLLGATE_CONFIG ?? 'tollgate.yaml';

/** Prints a config error (every problem, one per line) and returns exit code 2; other errors exit 1. */
export function reportError(e: unknown): number {
  if (e instanceof ConfigError) {
    process.stderr.write(`config error${e.problems.length > 1 ? `s (${e.problems.length})` : ''}:\n`);
    for (const p of e.problems) process.stderr.write(`  ${formatProblem(p)}\n`);
    return EXIT_USAGE;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EADDRINUSE' || err?.code === 'EACCES') {
    process.stderr.write(`error: cannot listen: ${err.message}\n`);
    return EXIT_RUNTIME;
  }
  process.stderr.write(`error: ${err?.message ?? String(e)}\n`);
  return EXIT_RUNTIME;
}

export function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`expected a port number 0-65535, got ${JSON.stringify(v)}`);
  return n;
}

export function loggerFrom(opts: { logLevel?: string; logFormat?: string }, fallbackLevel = 'info'): LogHandle {
  return createLogger(opts.logLevel ?? fallbackLevel, (opts.logFormat ?? 'auto') as LogFormat);
}
