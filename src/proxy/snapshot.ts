/** The compiled, immutable view of a config that the data plane reads. Built by src/config/compile.ts. */
import type { BlockList } from 'node:net';
import type { Config } from '../config/schema.js';
import type { ApiInput } from '../docs/openapi.js';
import type { PolicyHooks, Reply } from '../policies/types.js';
import type { RedirectRewriter } from './redirects.js';
import { compilePhases } from './pipeline.js';
import type { RoutePhases } from './pipeline.js';
import type { PathMatch, Routable } from './router.js';
import type { UpstreamClient } from './upstream.js';

export interface ChainEntry {
  /** Policy name as written (`oauth1`), or the named block it came from (`discogs-signing (oauth1)`). */
  label: string;
  priority: number;
  hooks: PolicyHooks;
}

export interface CompiledRoute extends Routable {
  name: string;
  upstream: UpstreamClient | undefined;
  respond: Reply | undefined;
  stripPrefix: boolean;
  rewrite: ((match: PathMatch) => string) | undefined;
  maxBodySize: number;
  /** Rewrites Location/Content-Location pointing at the upstream (rewriteRedirects); undefined: none. */
  redirects: RedirectRewriter | undefined;
  /** Policies in run order (highest priority first). */
  chain: ChainEntry[];
  /** The chain's hooks per phase, made once (src/proxy/pipeline.ts). */
  phases: RoutePhases;
  /** Human description for `tollgate check`. */
  describe: string;
}

/** What the request path reads of the listener's settings, compiled once. */
export interface ListenBlock {
  readonly maxUrlLength: number;
  readonly allowQueryControlChars: boolean;
  readonly bodyIdleTimeout: number;
  /** Proxies whose X-Forwarded-* headers are believed; undefined: none. */
  readonly trustedProxies: BlockList | undefined;
  /** Some route matches on Host: only then is the Host header parsed per request. */
  readonly hostRouting: boolean;
}

export interface Snapshot {
  /** The config as loaded, for the control plane (admin API, reload); the data plane reads `listen` and `routes`. */
  readonly config: Config;
  readonly listen: ListenBlock;
  readonly routes: readonly CompiledRoute[];
  readonly upstreams: ReadonlyMap<string, UpstreamClient>;
  readonly publicUrl: string;
  /** Replaces secret values and sensitive query parameters in a URL for logging. */
  readonly redactUrl: (url: string) => string;
  /** Replaces secret values in any text (error messages, log fields). */
  readonly redactText: (text: string) => string;
  /** The configured routes with their resolved policies, for the generated API docs (src/docs/openapi.ts). */
  readonly api: ApiInput;
  /** Releases what this snapshot holds that the next one does not reuse (pools, policy resources). */
  retire(next: Snapshot | undefined): Promise<void>;
}

/**
 * A route the gateway answers itself (OAuth2 and 3scale endpoints): an exact path whose one policy answers
 * every request with a Reply; `fallback` is sent only if that policy ever returns without answering.
 */
export function endpointRoute(o: {
  name: string;
  matchPath: CompiledRoute['matchPath'];
  methods?: ReadonlySet<string>;
  hooks: ChainEntry['hooks'];
  priority: number;
  maxBodySize: number;
  fallback: Reply;
  describe: string;
}): CompiledRoute {
  const chain: ChainEntry[] = [{ label: o.name, priority: o.priority, hooks: o.hooks }];
  return {
    name: o.name,
    matchPath: o.matchPath,
    matchHost: undefined,
    methods: o.methods,
    upstream: undefined,
    respond: o.fallback,
    stripPrefix: false,
    rewrite: undefined,
    maxBodySize: o.maxBodySize,
    redirects: undefined,
    chain,
    phases: compilePhases(chain),
    describe: o.describe,
  };
}
