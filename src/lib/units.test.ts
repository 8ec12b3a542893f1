import { describe, expect, it } from 'vitest';
import { duration, parseDuration, parseSize, size } from './units.js';

describe('units written in config', () => {
  it('reads durations as milliseconds', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration(' 7d ')).toBe(604_800_000);
    expect(parseDuration(1200)).toBe(1200);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
  });

  it('reads sizes as bytes (KB decimal, KiB and K binary)', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('10mb')).toBe(10_000_000);
    expect(parseSize('64KiB')).toBe(65_536);
    expect(parseSize('1g')).toBe(1024 ** 3);
    expect(parseSize('lots')).toBeUndefined();
  });

  it('rejects a malformed value with a message showing the expected forms', () => {
    expect(duration('d').parse('5m')).toBe(300_000);
    expect(size('s').parse('1KiB')).toBe(1024);
    expect(duration('d').safeParse('5 minutes').error?.issues[0].message).toMatch(/expected a duration like "250ms"/);
    expect(size('s').safeParse('big').error?.issues[0].message).toMatch(/expected a size like "512"/);
  });
});
