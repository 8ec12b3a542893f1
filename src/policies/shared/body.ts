/**
 * Bounded body handling for the few policies that must see a body: reading a request body into memory up
 * to a limit, and looking at the start of a response stream without consuming it (peek, then replay).
 */
import { Readable } from 'node:stream';
import { readAll } from '../../lib/body.js';
import type { Exchange, HeaderValue } from '../types.js';

/** The first value of a header, lower-cased media type without parameters (`application/json`). */
export function mediaType(value: HeaderValue | undefined): string {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return '';
  const semi = v.indexOf(';');
  return (semi === -1 ? v : v.slice(0, semi)).trim().toLowerCase();
}

export const FORM = 'application/x-www-form-urlencoded';

export function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * The exchange's request body in memory (reading the client's stream if needed, up to `max` bytes), and
 * stored back on the exchange so later policies and the upstream get the same bytes.
 */
export async function bufferRequestBody(ex: Exchange, max: number): Promise<Buffer> {
  const b = ex.body;
  if (b === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(b)) return b;
  if (typeof b === 'string') return Buffer.from(b);
  const buf = await readAll(b, max);
  ex.body = buf;
  return buf;
}

export interface Peeked {
  /** The bytes read so far (at least `n` unless the stream ended first). */
  head: Buffer;
  /** True when the stream ended within the peeked bytes: `head` is the whole body. */
  ended: boolean;
}

/**
 * Reads at least `n` bytes (or to the end) from a paused stream, then pauses it again. Use `replay` to get
 * a stream of the whole body back; nothing is lost and the rest is never buffered.
 */
export function peek(stream: Readable, n: number): Promise<Peeked> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (ended: boolean) => {
      // Pause before removing the listener: a flowing stream would emit its next chunk to nobody.
      if (!ended) stream.pause();
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      resolve({ head: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), ended });
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size >= n) done(false);
    };
    const onEnd = () => done(true);
    const onError = (e: Error) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      reject(e);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/**
 * A stream of `head` followed by the rest of `rest` (a stream paused by `peek`), with backpressure:
 * `rest` is only resumed when the consumer asks for more.
 */
export function replay(head: Buffer, rest: Readable): Readable {
  const out = new Readable({
    read() {
      rest.resume();
    },
    destroy(err, cb) {
      if (!rest.readableEnded) rest.destroy();
      cb(err);
    },
  });
  if (head.length) out.push(head);
  rest.on('data', (c: Buffer) => {
    if (!out.push(c)) rest.pause();
  });
  rest.once('end', () => out.push(null));
  rest.once('error', (e) => out.destroy(e));
  return out;
}

/** A stream of a buffer that is already complete. */
export function bufferStream(buf: Buffer): Readable {
  return Readable.from(buf.length ? [buf] : []);
}
