import { describe, expect, it } from 'vitest';
import { windowAt } from './policy.js';

const at = (iso: string) => Date.parse(iso);

describe('rate-limit windows are aligned to the clock and the calendar (UTC)', () => {
  it('second, minute, hour and day windows', () => {
    const t = at('2026-03-15T10:20:30.500Z');
    expect(windowAt('second', t)).toEqual([at('2026-03-15T10:20:30Z'), at('2026-03-15T10:20:31Z')]);
    expect(windowAt('minute', t)).toEqual([at('2026-03-15T10:20:00Z'), at('2026-03-15T10:21:00Z')]);
    expect(windowAt('hour', t)).toEqual([at('2026-03-15T10:00:00Z'), at('2026-03-15T11:00:00Z')]);
    expect(windowAt('day', t)).toEqual([at('2026-03-15T00:00:00Z'), at('2026-03-16T00:00:00Z')]);
  });

  it('week starts on Monday, month on the 1st, eternity never ends', () => {
    const t = at('2026-03-15T10:20:30Z'); // a Sunday
    expect(windowAt('week', t)).toEqual([at('2026-03-09T00:00:00Z'), at('2026-03-16T00:00:00Z')]);
    expect(windowAt('month', t)).toEqual([at('2026-03-01T00:00:00Z'), at('2026-04-01T00:00:00Z')]);
    expect(windowAt('eternity', t)).toEqual([0, null]);
  });
});
