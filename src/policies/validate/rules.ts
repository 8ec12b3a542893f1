/** Cross-field rules JSON Schema cannot express. Each returns an error message, or undefined when it holds. */
import type { NotInFuture } from './schema.js';

type Params = Record<string, unknown>;

function int(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

/** The year (and month, day) must name a real date that is not after the current UTC date. */
export function checkNotInFuture(rule: NotInFuture, params: Params, now: Date = new Date()): string | undefined {
  const names = [rule.year, rule.month, rule.day].filter((n): n is string => n !== undefined);
  // Absent parameters are the schema's business (required); a rule only judges what is there.
  if (names.every((n) => params[n] === undefined)) return undefined;
  const label = names.join('/');
  const y = int(params[rule.year]);
  const m = rule.month !== undefined ? int(params[rule.month]) : 1;
  const d = rule.day !== undefined ? int(params[rule.day]) : 1;
  if (y === undefined || m === undefined || d === undefined || m < 1 || m > 12 || d < 1) return `${label} is not a valid date`;
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCMonth() !== m - 1 || date.getUTCFullYear() !== y) return `${label} is not a valid date`;
  const ny = now.getUTCFullYear();
  const nm = now.getUTCMonth() + 1;
  const nd = now.getUTCDate();
  const future =
    y > ny ||
    (rule.month !== undefined && y === ny && m > nm) ||
    (rule.day !== undefined && y === ny && m === nm && d > nd);
  return future ? `${label} is in the future` : undefined;
}
