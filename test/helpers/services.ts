/**
 * Real services for tests (Redis, Postgres). A test that needs one must not silently pass without it:
 * under CI=true a missing service FAILS the test file; elsewhere the suite is SKIPPED with a message
 * saying what to start. Usage (top-level await is fine in vitest ESM):
 *
 *   const pgUrl = await postgresAvailable();
 *   describe.skipIf(!pgUrl)('store on postgres', () => { … use pgUrl! … });
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import pg from 'pg';

const PROBE_TIMEOUT_MS = 2_000;

/** Redis URL the tests use; override with TEST_REDIS_URL. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Postgres URLs tried in order (trust auth on the test machines: user postgres, else root); override with TEST_POSTGRES_URL. */
const POSTGRES_CANDIDATES = process.env.TEST_POSTGRES_URL
  ? [process.env.TEST_POSTGRES_URL]
  : ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test'];

const inCi = (): boolean => Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

function missing(service: string, where: string, reason: string): undefined {
  const message = `${service} is not reachable at ${where} (${reason})`;
  if (inCi()) throw new Error(`${message}: CI is set, so tests that need ${service} fail instead of skipping.`);
  console.warn(`[tests] SKIPPING ${service} tests: ${message}. Start ${service} locally to run them.`);
  return undefined;
}

/** Strips the password from a URL before it goes into a message. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

/**
 * Resolves to the Redis URL when a Redis answers PING, else undefined (skip) — or throws under CI=true.
 * Probes with a raw RESP PING so no client library's reconnect loop leaks into the test run.
 */
export async function redisAvailable(url: string = REDIS_URL): Promise<string | undefined> {
  const u = new URL(url);
  const port = Number(u.port || 6379);
  const reason = await new Promise<string | undefined>((resolve) => {
    const socket = connect({ host: u.hostname, port });
    const done = (r: string | undefined): void => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done('timeout'));
    socket.once('error', (err) => done(err.message));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.once('data', (chunk) => done(chunk.toString('latin1').startsWith('+PONG') ? undefined : 'unexpected reply to PING'));
  });
  return reason === undefined ? url : missing('Redis', redact(url), reason);
}

/** Resolves to a Postgres URL that accepts a connection and `select 1`, else undefined (skip) — or throws under CI=true. */
export async function postgresAvailable(): Promise<string | undefined> {
  let lastReason = 'no candidate URL';
  for (const url of POSTGRES_CANDIDATES) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
    client.on('error', () => {}); // a dropped probe connection must not crash the test process
    try {
      await client.connect();
      await client.query('select 1');
      return url;
    } catch (err) {
      lastReason = err instanceof Error ? err.message : String(err);
    } finally {
      await client.end().catch(() => {});
    }
  }
  return missing('Postgres', POSTGRES_CANDIDATES.map(redact).join(' or '), lastReason);
}

/** Chromium for the browser tests (Debian's `chromium`; override with CHROMIUM_PATH): its path, else undefined (skip) — or throws under CI=true. */
export function chromiumAvailable(): string | undefined {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  return existsSync(path) ? path : missing('Chromium', path, 'not installed; `apt-get install chromium`, or set CHROMIUM_PATH');
}
