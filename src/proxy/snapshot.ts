/** The compiled, immutable view of a config that the data plane reads. Built by src/config/compile.ts. */
import type { BlockList } from 'node:net';
import type { Config } from '../config/schema.js';
import type { ApiInput } from '../docs/openapi.js';
import type { PolicyHooks, Reply } from '../policies/types.js';
import type { RedirectRewriter } from './redirects.js';
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
  hasRequestHooks: boolean;
  hasResponseHooks: boolean;
  /**
   * Set when every response-phase policy of the route can work on the direct path (`onResponseHead`), in
   * response order (last policy first); the stream path is then taken only when one of them asks for it.
   */
  responseHeadHooks: ChainEntry[] | undefined;
  hasErrorHooks: boolean;
  hasDoneHooks: boolean;
  /** Human description for `tollgate check`. */
  describe: string;
}

export interface Snapshot {
  readonly config: Config;
  readonly routes: readonly CompiledRoute[];
  /** Some route matches on Host: only then is the Host header parsed per request. */
  readonly hostRouting: boolean;
  readonly upstreams: ReadonlyMap<string, UpstreamClient>;
  readonly trustedProxies: BlockList | undefined;
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
  return {
    name: o.name,
    matchPath: o.matchPath,
    matchHost: undefined,
    methods: o.methods as CompiledRoute['methods'],
    upstream: undefined,
    respond: o.fallback,
    stripPrefix: false,
    rewrite: undefined,
    maxBodySize: o.maxBodySize,
    redirects: undefined,
    chain: [{ label: o.name, priority: o.priority, hooks: o.hooks }],
    hasRequestHooks: true,
    hasResponseHooks: false,
    responseHeadHooks: undefined,
    hasErrorHooks: false,
    hasDoneHooks: false,
    describe: o.describe,
  };
}
