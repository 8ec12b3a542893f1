/** Shared bits of the cache integration tests: a gateway with one cached route in front of a counting upstream. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway } from './gateway.js';
import type { TestGateway } from './gateway.js';
import { startUpstream } from './upstream.js';
import type { Answer, TestUpstream } from './upstream.js';

export const CONSUMER_FIXTURE = new URL('../fixtures/consumer-from-header.mjs', import.meta.url).pathname;

export async function tempDir(prefix = 'tollgate-cache-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface CachedSetup {
  gw: TestGateway;
  up: TestUpstream;
  /** Requests the upstream received for a path (query included), or all when no path is given. */
  hits(path?: string): number;
}

/**
 * Starts an upstream answering with `answer` and a gateway whose one route caches with `cacheYaml`
 * (the YAML mapping inside `cache:`, e.g. `{ ttl: 60s }`). `extraPolicies` go before the cache entry.
 */
export async function cachedRoute(answer: Answer, cacheYaml = '{}', opts: { extraPolicies?: string[]; routeExtra?: string; top?: string; stream?: boolean } = {}): Promise<CachedSetup> {
  const up = await startUpstream(answer, { stream: opts.stream });
  const policies = [...(opts.extraPolicies ?? []), `cache: ${cacheYaml}`].map((p) => `      - ${p}`).join('\n');
  const yaml = `${opts.top ?? ''}
upstreams:
  app: { url: "${up.url}" }
routes:
  - name: cached
    match: { prefix: / }
    upstream: app
${opts.routeExtra ?? ''}
    policies:
${policies}
`;
  const gw = await startTestGateway(yaml);
  return { gw, up, hits: (path) => up.requests.filter((r) => path === undefined || r.url === path).length };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
