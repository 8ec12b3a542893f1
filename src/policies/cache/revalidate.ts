/**
 * RFC 5861 stale-while-revalidate: the background refresh of a stale entry that was just served.
 *
 * The refresh is a replay of the exchange (`ex.replay`): in-process, detached from the client, from the cache
 * onward (the policies after it, such as transforms and credentials, then the upstream). `begin` is the cache's
 * own request phase for the copy, which makes it the fill for the key; the cache's onResponse then stores the
 * answer. Nothing of it reaches a client or the access log, and the policies before the cache (auth, limits,
 * usage) do not count it again.
 */
import type { Logger } from 'pino';
import type { Exchange, Reply } from '../types.js';

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
   * already pending for that key. `begin` sets the copy up as the cache's fill (it stands in for the cache's
   * onRequest on the copy).
   */
  refresh(ex: Exchange, key: string, begin: (copy: Exchange) => void | Reply | Promise<void | Reply>): void;
}

export function createBackgroundRevalidator(log: Logger): BackgroundRevalidator {
  const pending = new Set<string>();
  return {
    refresh(ex, key, begin) {
      if (pending.has(key)) return;
      pending.add(key);
      ex.replay((copy) => {
        copy.method = 'GET';
        for (const name of Object.keys(copy.headers)) if (NOT_REPLAYED.has(name)) delete copy.headers[name];
        return begin(copy);
      })
        .catch((err: unknown) => log.debug({ err: (err as Error).message }, 'background revalidation failed'))
        .finally(() => pending.delete(key));
    },
  };
}
