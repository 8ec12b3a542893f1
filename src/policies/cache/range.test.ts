import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseRange, sliceStream } from './range.js';

describe('byte ranges from complete entries', () => {
  it('parses one range, suffix ranges and open ends', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ kind: 'partial', start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-1,5-6', 100)).toEqual({ kind: 'full' });
  });

  it('slices a stream across chunk boundaries', async () => {
    const src = Readable.from([Buffer.from('abcdef'), Buffer.from('ghijkl'), Buffer.from('mnop')]);
    const out: Buffer[] = [];
    for await (const c of sliceStream(src, 4, 13)) out.push(c as Buffer);
    expect(Buffer.concat(out).toString()).toBe('efghijklmn');
  });
});
