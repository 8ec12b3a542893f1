/**
 * RFC 5861 stale-while-revalidate: the background refresh of a stale entry that was just served.
 *
 * The refresh goes through the whole route again (auth, transforms, credentials) as a request to this very
 * listener, marked with a per-process token so that the cache recognises it as its own: it then skips the
 * stale answer and becomes the fill for the key. Everything about how the refresh is made lives here,
 * behind `BackgroundRevalidator`, so it can later run in-process instead (a replay of the exchange through
 * the route's pipeline) without touching the lookup or the fill.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Exchange } from '../types.js';

/** Marks the gateway's own background revalidation requests; the token never leaves the process. */
const REVALIDATE_HEADER = 'x-tollgate-cache-revalidate';
const REVALIDATE_TOKEN = randomBytes(16).toString('hex');
/** Request headers not copied onto a background revalidation request. */
const NOT_REPLAYED = new Set([
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'expect',
  'upgrade',
  'range',
  'cache-control',
  'pragma',
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
]);

export interface BackgroundRevalidator {
  /**
   * Starts a background refresh of the entry stored under `key` for this exchange's request, unless one is
   * already pending for that key.
   */
  refresh(ex: Exchange, key: string): void;
  /**
   * Whether this exchange is one of the gateway's own refreshes; removes the marker header from the
   * request either way (a client cannot forge it: the token is per process).
   */
  claim(ex: Exchange): boolean;
}

export function createBackgroundRevalidator(log: Logger): BackgroundRevalidator {
  const pending = new Set<string>();
  return {
    claim(ex) {
      const marker = ex.headers[REVALIDATE_HEADER];
      if (marker === undefined) return false;
      delete ex.headers[REVALIDATE_HEADER];
      return marker === REVALIDATE_TOKEN;
    },

    refresh(ex, key) {
      if (pending.has(key)) return;
      const sock = ex.req.socket;
      const host = sock?.localAddress;
      const port = sock?.localPort;
      if (!host || !port) return;
      pending.add(key);
      const headers: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(ex.req.headers)) if (!NOT_REPLAYED.has(name) && value !== undefined) headers[name] = value;
      headers[REVALIDATE_HEADER] = REVALIDATE_TOKEN;
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        pending.delete(key);
      };
      const r = httpRequest({ host: host.startsWith('::ffff:') ? host.slice(7) : host, port, method: 'GET', path: ex.clientUrl, headers, agent: false }, (res) => {
        res.on('end', finish);
        res.on('close', finish);
        res.resume();
      });
      r.on('error', (err) => {
        log.debug({ err: err.message }, 'background revalidation failed');
        finish();
      });
      r.end();
    },
  };
}
