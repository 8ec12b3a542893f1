import { describe, it, expect } from 'vitest';
import { periodStart, nextPeriodStart } from './periods.js';

const at = (iso: string): Date => new Date(iso);
const start = (p: Parameters<typeof periodStart>[0], iso: string): string => periodStart(p, at(iso)).toISOString();

describe('periodStart (UTC, calendar-aligned like 3scale)', () => {
  it('floors minutes, hours and days', () => {
    expect(start('minute', '2024-03-15T10:42:37.123Z')).toBe('2024-03-15T10:42:00.000Z');
    expect(start('hour', '2024-03-15T10:42:37.123Z')).toBe('2024-03-15T10:00:00.000Z');
    expect(start('day', '2024-03-15T23:59:59.999Z')).toBe('2024-03-15T00:00:00.000Z');
  });

  it('starts weeks on Monday, including when the date is a Sunday or a Monday', () => {
    expect(start('week', '2024-03-15T10:00:00Z')).toBe('2024-03-11T00:00:00.000Z'); // Friday
    expect(start('week', '2024-03-17T23:00:00Z')).toBe('2024-03-11T00:00:00.000Z'); // Sunday
    expect(start('week', '2024-03-18T00:00:00Z')).toBe('2024-03-18T00:00:00.000Z'); // Monday
    expect(start('week', '2025-01-01T12:00:00Z')).toBe('2024-12-30T00:00:00.000Z'); // across a year
  });

  it('starts months on the 1st and years on 1 January', () => {
    expect(start('month', '2024-02-29T18:00:00Z')).toBe('2024-02-01T00:00:00.000Z');
    expect(start('year', '2024-12-31T23:59:59Z')).toBe('2024-01-01T00:00:00.000Z');
  });

  it('puts eternity at the epoch, whatever the date', () => {
    expect(start('eternity', '2024-03-15T10:00:00Z')).toBe('1970-01-01T00:00:00.000Z');
  });

  it('ignores the local time zone', () => {
    // 23:30 on the 31st in UTC is already the 1st in UTC+1: the month must still be the UTC one.
    expect(start('month', '2024-01-31T23:30:00Z')).toBe('2024-01-01T00:00:00.000Z');
  });

  it('rejects an invalid date', () => {
    expect(() => periodStart('day', new Date('nope'))).toThrow(RangeError);
  });
});

describe('nextPeriodStart (when a counter resets)', () => {
  it('is the start of the following period', () => {
    expect(nextPeriodStart('minute', at('2024-03-15T10:42:37Z'))?.toISOString()).toBe('2024-03-15T10:43:00.000Z');
    expect(nextPeriodStart('week', at('2024-03-17T23:00:00Z'))?.toISOString()).toBe('2024-03-18T00:00:00.000Z');
    expect(nextPeriodStart('month', at('2024-12-10T00:00:00Z'))?.toISOString()).toBe('2025-01-01T00:00:00.000Z');
    expect(nextPeriodStart('month', at('2024-01-31T12:00:00Z'))?.toISOString()).toBe('2024-02-01T00:00:00.000Z');
    expect(nextPeriodStart('year', at('2024-06-01T00:00:00Z'))?.toISOString()).toBe('2025-01-01T00:00:00.000Z');
  });

  it('never comes for eternity', () => {
    expect(nextPeriodStart('eternity', at('2024-03-15T10:00:00Z'))).toBeNull();
  });
});
