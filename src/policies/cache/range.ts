/**
 * Serving a byte range from a complete cached entry (RFC 9110 §14). One range only; several ranges get
 * the whole body (a server may ignore Range), so no multipart/byteranges bodies are built.
 */
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';

export type RangeAnswer = { kind: 'full' } | { kind: 'unsatisfiable' } | { kind: 'partial'; start: number; end: number };

/** `end` is inclusive, as in Content-Range. */
export function parseRange(header: string, size: number): RangeAnswer {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    return size === 0 ? { kind: 'unsatisfiable' } : { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

/** Passes on bytes [start, end] of a stream that begins at offset 0. */
export function sliceStream(source: Readable, start: number, end: number): Readable {
  let offset = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const from = offset;
      offset += chunk.length;
      if (offset <= start || from > end) return cb();
      cb(null, chunk.subarray(Math.max(0, start - from), Math.min(chunk.length, end - from + 1)));
      if (offset > end) {
        // The rest of the body is not needed: stop reading it.
        source.unpipe(t);
        source.destroy();
        t.end();
      }
    },
  });
  source.on('error', (e) => t.destroy(e));
  return source.pipe(t);
}
