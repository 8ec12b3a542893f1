/**
 * Reading a body stream whole, within a bound: the one helper for the places that must hold a body in
 * memory (request bodies of validating and signing policies, resource writes, a cache fill that generates
 * an ETag).
 */
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';

/**
 * Reads a stream into one Buffer, failing with TG_BODY_TOO_LARGE past `max` bytes (and TG_BAD_REQUEST when
 * the stream fails: callers reading an upstream body map both to their own error).
 */
export function readAll(stream: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        cleanup();
        // Keep reading and dropping the rest (bounded by the route's maxBodySize) so the 413 reaches the client
        // on a healthy connection instead of a reset.
        stream.on('error', () => undefined);
        stream.resume();
        reject(new GatewayError('TG_BODY_TOO_LARGE', `Request body is larger than ${max} bytes, the most this route reads into memory.`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e instanceof GatewayError ? e : new GatewayError('TG_BAD_REQUEST', 'The request body could not be read.', { cause: e }));
    };
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}
