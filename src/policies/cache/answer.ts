/**
 * Answers made from a stored entry outside the fresh-memory-hit fast path: stale and revalidated answers,
 * disk hits, conditional requests (304) and byte ranges (206/416).
 */
import type { Headers, Reply } from '../types.js';
import type { CacheHit } from '../../cache/stores/index.js';
import { notModified } from './freshness.js';
import type { EntryState } from './freshness.js';
import { entryHeaders } from './headers.js';
import type { XCache } from './headers.js';
import { parseRange, sliceStream } from './range.js';

export interface EntryAnswerOptions {
  xcache: XCache;
  /** Cache-Status parameters after the cache name, e.g. `hit; ttl=30`. */
  status: string;
  /** The client's request headers (conditionals, Range). */
  request: Headers;
  head: boolean;
}

/** Rejects when a disk body vanished between lookup and open: the caller treats it as a miss. */
export function answerFromEntry(hit: CacheHit, state: EntryState, now: number, o: EntryAnswerOptions): Reply | Promise<Reply> {
  const r = o.request;
  if ((r['if-none-match'] !== undefined || r['if-modified-since'] !== undefined) && notModified(r, state)) {
    return { status: 304, headers: entryHeaders(hit, state, now, o.xcache, o.status, true), body: null };
  }
  const headers = entryHeaders(hit, state, now, o.xcache, o.status);
  const range = r['range'];
  // If-Range: serve the whole body rather than judge validators (always correct, RFC 9110 §13.1.5).
  if (typeof range === 'string' && r['if-range'] === undefined && hit.meta.status === 200) {
    const want = parseRange(range, hit.size);
    headers['accept-ranges'] = 'bytes';
    if (want.kind === 'unsatisfiable') {
      return { status: 416, headers: { 'content-range': `bytes */${hit.size}`, 'content-length': '0', 'x-cache': o.xcache, 'cache-status': headers['cache-status'] }, body: null };
    }
    if (want.kind === 'partial') {
      headers['content-range'] = `bytes ${want.start}-${want.end}/${hit.size}`;
      headers['content-length'] = String(want.end - want.start + 1);
      if (o.head) return { status: 206, headers, body: null };
      if (hit.body !== undefined) return { status: 206, headers, body: hit.body.subarray(want.start, want.end + 1) };
      return hit.open().then((s) => ({ status: 206, headers, body: sliceStream(s, want.start, want.end) }));
    }
  }
  if (o.head) return { status: hit.meta.status, headers, body: null };
  if (hit.body !== undefined) return { status: hit.meta.status, headers, body: hit.body };
  return hit.open().then((body) => ({ status: hit.meta.status, headers, body }));
}
