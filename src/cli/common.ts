/** What the CLI verbs share: exit codes, config error printing, flag parsers, the logger from flags. */
import { CommanderError } from 'commander';
import { ConfigError, formatProblem } from '../config/problems.js';
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

/**
 * A bad flag value is a usage error: one line on stderr, exit 2 (main() maps every CommanderError to it).
 * Not commander's InvalidArgumentError: that one prints the whole help after the line.
 */
export function usageError(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  throw new CommanderError(EXIT_USAGE, 'tollgate.usage', message);
}

/** A flag parser for an integer in [min, max], e.g. `.option('--retries <n>', '…', intFlag('--retries', 0, 10))`. */
function intFlag(flag: string, min: number, max: number, what = 'an integer'): (v: string) => number {
  return (v) => {
    const n = /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) usageError(`${flag}: expected ${what} ${min}-${max}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** A flag parser for a TCP port (0 picks a free one). */
export function portFlag(flag: string): (v: string) => number {
  return intFlag(flag, 0, 65535, 'a port number');
}

export function loggerFrom(opts: { logLevel?: string; logFormat?: string }, fallbackLevel = 'info'): LogHandle {
  return createLogger(opts.logLevel ?? fallbackLevel, (opts.logFormat ?? 'auto') as LogFormat);
}
