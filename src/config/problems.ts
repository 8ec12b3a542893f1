/**
 * Config problems and their one-line form (FILE:LINE: key.path: message). Apart from load.ts so that printing
 * them (every CLI verb's error path) does not load the YAML parser and the schema.
 */
import type { PartialConfig } from './load.js';

export type KeyPath = readonly (string | number)[];

export interface ConfigProblem {
  file: string;
  line?: number;
  path: KeyPath;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  /** Set when the schema failed but the rest could still be compiled for more problems (see PartialConfig). */
  partial?: PartialConfig;
  constructor(problems: ConfigProblem[]) {
    // A named policy block used by several routes is checked once per use: report each problem once.
    const seen = new Set<string>();
    const unique = problems.filter((p) => {
      const k = formatProblem(p);
      return seen.has(k) ? false : (seen.add(k), true);
    });
    super(unique.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = unique;
  }
}

export function formatPath(path: KeyPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || '(top level)';
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}: ${formatPath(p.path)}: ${p.message}`;
}

