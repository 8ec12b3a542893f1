import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SecretScrubber, secretForms } from './secret-scrub.js';

const SECRET = 'tok/en+42 "x"é';

/** Runs `parts` through a scrubber stream as separate chunks and returns the chunks that came out. */
async function through(s: SecretScrubber, parts: Array<string | Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const t = s.scrub(Readable.from(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p)))));
  for await (const c of t) out.push(c as Buffer);
  return out;
}
const text = async (s: SecretScrubber, parts: Array<string | Buffer>) => Buffer.concat(await through(s, parts)).toString();

/** Every way of cutting `str` into two chunks. */
function* splits(str: string): Generator<[string, string]> {
  const b = Buffer.from(str);
  for (let i = 0; i <= b.length; i++) yield [b.subarray(0, i).toString('latin1'), b.subarray(i).toString('latin1')];
}

describe('secretForms', () => {
  it('lists the plain, percent-encoded and JSON-escaped spellings', () => {
    const f = secretForms(SECRET);
    expect(f).toContain(SECRET);
    expect(f).toContain(encodeURIComponent(SECRET));
    expect(f).toContain(encodeURIComponent(SECRET).replace(/%20/g, '+'));
    expect(f).toContain(JSON.stringify(SECRET).slice(1, -1));
    // PHP's json_encode default: escaped slashes and \uXXXX.
    expect(f).toContain('tok\\/en+42 \\"x\\"\\u00e9');
    expect(f).toContain('tok%2fen%2b42%20%22x%22%c3%a9');
  });
});

describe('SecretScrubber', () => {
  it('masks every spelling, keeping the length', async () => {
    const s = new SecretScrubber([SECRET]);
    for (const form of secretForms(SECRET)) {
      const body = `{"a":"${form}","b":1}`;
      const out = await text(s, [body]);
      expect(out).not.toContain(form);
      expect(Buffer.byteLength(out)).toBe(Buffer.byteLength(body));
      expect(out).toBe(`{"a":"${'*'.repeat(Buffer.byteLength(form))}","b":1}`);
    }
  });

  it('finds a secret split across chunk boundaries at every offset', async () => {
    const s = new SecretScrubber(['UPSTREAM-SECRET-1234']);
    for (const [a, b] of splits('before UPSTREAM-SECRET-1234 after')) {
      const out = Buffer.concat(await through(s, [Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')])).toString();
      expect(out).toBe(`before ${'*'.repeat(20)} after`);
    }
    // One byte per chunk.
    const bytes = [...Buffer.from('xxUPSTREAM-SECRET-1234yy')].map((c) => Buffer.from([c]));
    expect(await text(s, bytes)).toBe(`xx${'*'.repeat(20)}yy`);
  });

  it('masks several secrets, and the union of overlapping ones', async () => {
    const s = new SecretScrubber(['abcdefgh12', 'gh12345678', 'zzzzzzzz']);
    expect(await text(s, ['..abcdefgh12345678..zzzzzzzz..'])).toBe(`..${'*'.repeat(16)}..${'*'.repeat(8)}..`);
    // The overlap straddles a chunk boundary: no tail of the second secret survives.
    for (const [a, b] of splits('..abcdefgh12345678..')) expect(await text(s, [a, b])).toBe(`..${'*'.repeat(16)}..`);
    // A run of a repeated secret stays bounded and fully masked.
    expect(await text(s, ['z'.repeat(5), 'z'.repeat(30), 'zz'])).toBe('*'.repeat(37));
  });

  it('holds back only what may start a secret, at most (longest spelling - 1) bytes, so a body keeps streaming', async () => {
    const s = new SecretScrubber(['UPSTREAM-SECRET-1234']);
    const t = new PassThrough();
    const out = s.scrub(t);
    const got: Buffer[] = [];
    out.on('data', (c: Buffer) => got.push(c));
    const tick = () => new Promise((r) => setImmediate(r));
    t.write(Buffer.alloc(1000, 0x61));
    await tick();
    expect(Buffer.concat(got).length).toBe(1000); // nothing like a secret at the end: all of it passed
    t.write(Buffer.from('xxUPSTREAM-SEC'));
    await tick();
    expect(Buffer.concat(got).toString()).toBe('a'.repeat(1000) + 'xx');
    t.write(Buffer.from('RET-1234 and UPSTREAM-SECRET-123'));
    await tick();
    expect(Buffer.concat(got).length).toBe(1000 + 2 + 20 + 5);
    t.end(Buffer.from('5'));
    await new Promise((r) => out.once('end', r));
    expect(Buffer.concat(got).toString()).toBe(`${'a'.repeat(1000)}xx${'*'.repeat(20)} and UPSTREAM-SECRET-1235`);
    expect(s.window).toBe(19);
  });

  it('ignores values under 8 characters and leaves clean text alone', async () => {
    expect(new SecretScrubber(['short']).empty).toBe(true);
    const s = new SecretScrubber(['UPSTREAM-SECRET-1234']);
    expect(s.maskText('nothing here')).toBe('nothing here');
    expect(s.maskText('/x?token=UPSTREAM-SECRET-1234&a=1')).toBe(`/x?token=${'*'.repeat(20)}&a=1`);
    const clean = Buffer.from('clean body');
    expect(s.maskBuffer(clean)).toBe(clean);
  });
});
