/**
 * Upstream clients: one undici Pool per upstream URL, round-robin across URLs. Requests are dispatched with
 * a raw handler (undici's native callback interface) so bytes go from socket to socket without a stream
 * layer in between.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Pool as UndiciPool } from 'undici';
import { GatewayError } from '../errors.js';
import type { UpstreamConfig } from '../config/schema.js';

// Only the Pool class: undici's index also loads fetch, WebSocket, the cache and mock agents, about 8 MiB of
// idle RSS a gateway never uses. Same class as undici's `Pool` export (undici is pinned in package-lock.json).
const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
type Pool = UndiciPool;

export interface UpstreamTarget {
  pool: Pool;
  origin: string;
  /** Path prefix from the upstream URL, without trailing slash ('' when none). */
  basePath: string;
  /** The URL as configured, without trailing slash: origin + basePath. */
  baseUrl: string;
}

export class UpstreamClient {
  readonly name: string;
  readonly targets: UpstreamTarget[];
  readonly retryAttempts: number;
  readonly preserveHost: boolean;
  /** Identity of the settings; a reload with the same key keeps the pools (and their warm connections). */
  readonly key: string;
  private next = 0;

  constructor(name: string, cfg: UpstreamConfig) {
    this.name = name;
    this.key = JSON.stringify(cfg);
    this.retryAttempts = cfg.retry.attempts;
    this.preserveHost = cfg.preserveHost;
    const urls = Array.isArray(cfg.url) ? cfg.url : [cfg.url];
    const ca = cfg.tls.ca ? readFileSync(cfg.tls.ca, 'utf8') : undefined;
    this.targets = urls.map((u) => {
      const url = new URL(u);
      const basePath = url.pathname.replace(/\/+$/, '');
      const pool = new Pool(url.origin, {
        connections: cfg.pool.connections,
        keepAliveTimeout: cfg.pool.keepAlive,
        headersTimeout: cfg.timeouts.headers,
        bodyTimeout: cfg.timeouts.body,
        connect: {
          timeout: cfg.timeouts.connect,
          ...(url.protocol === 'https:'
            ? { rejectUnauthorized: !cfg.tls.insecureSkipVerify, ...(ca ? { ca } : {}), ...(cfg.tls.servername ? { servername: cfg.tls.servername } : {}) }
            : {}),
        },
      });
      return { pool, origin: url.origin, basePath, baseUrl: url.origin + basePath };
    });
  }

  pick(): UpstreamTarget {
    if (this.targets.length === 1) return this.targets[0];
    const t = this.targets[this.next];
    this.next = (this.next + 1) % this.targets.length;
    return t;
  }

  /** Lets in-flight requests finish, then closes the connections. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => undefined)));
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
/** Failures where the upstream cannot have acted on the request, so an idempotent retry is safe. */
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT']);

export function isRetryable(err: unknown): boolean {
  return RETRYABLE_CODES.has((err as { code?: string })?.code ?? '');
}

/** Turns an undici/socket error into the catalogue's 502 or 504. */
export function upstreamError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: string })?.code ?? '';
  if (TIMEOUT_CODES.has(code)) return new GatewayError('TG_UPSTREAM_TIMEOUT', undefined, { cause: err });
  return new GatewayError('TG_UPSTREAM_ERROR', undefined, { cause: err });
}
