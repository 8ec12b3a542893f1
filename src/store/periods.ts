/**
 * Calendar-aligned periods in UTC, as 3scale counts usage: a `day` limit resets at 00:00 UTC, a `week` limit
 * on Monday 00:00 UTC, a `month` limit on the 1st. `eternity` never resets (it starts at the epoch).
 */
import type { Period } from './types.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const EPOCH = new Date(0);

/** Start of the period containing `date` (UTC). */
export function periodStart(period: Period, date: Date): Date {
  const t = date.getTime();
  if (Number.isNaN(t)) throw new RangeError('periodStart: invalid date');
  switch (period) {
    case 'minute':
      return new Date(Math.floor(t / MINUTE_MS) * MINUTE_MS);
    case 'hour':
      return new Date(Math.floor(t / HOUR_MS) * HOUR_MS);
    case 'day':
      return new Date(Math.floor(t / DAY_MS) * DAY_MS);
    case 'week': {
      const day = Math.floor(t / DAY_MS) * DAY_MS;
      // getUTCDay(): Sunday = 0; shift so Monday = 0.
      const sinceMonday = (new Date(day).getUTCDay() + 6) % 7;
      return new Date(day - sinceMonday * DAY_MS);
    }
    case 'month':
      return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
    case 'year':
      return new Date(Date.UTC(date.getUTCFullYear(), 0, 1));
    case 'eternity':
      return EPOCH;
  }
}

/** Start of the period after the one containing `date` (when the counter resets); null for eternity. */
export function nextPeriodStart(period: Period, date: Date): Date | null {
  const start = periodStart(period, date);
  switch (period) {
    case 'minute':
      return new Date(start.getTime() + MINUTE_MS);
    case 'hour':
      return new Date(start.getTime() + HOUR_MS);
    case 'day':
      return new Date(start.getTime() + DAY_MS);
    case 'week':
      return new Date(start.getTime() + 7 * DAY_MS);
    case 'month':
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
    case 'year':
      return new Date(Date.UTC(start.getUTCFullYear() + 1, 0, 1));
    case 'eternity':
      return null;
  }
}
