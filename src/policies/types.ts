/**
 * The policy contract. A policy is a folder under src/policies/<name>/ with a `schema.ts` (its zod options
 * schema), a `policy.ts` exporting a `PolicyDefinition`, and its tests. The definition's `create` runs once
 * per config (at compile time): it validates nothing at request time, and returns only the hooks it needs,
 * so a route pays only for what it configured.
 *
 * Request phase: `onRequest` hooks run in chain order (highest priority first). One may answer by itself by
 * returning a `Reply` (a cache hit, a 401, a 429): the upstream is then not called, and only the
 * `onResponse` hooks of the policies *before* it run on that reply (the onion model, as in Kong).
 * Response phase: `onResponse` hooks run in reverse chain order on the upstream's response head; each may
 * replace status, headers or the body stream. Bodies are streams: never buffer a body a route did not ask
 * to transform, and transform with a bounded look-ahead when you can.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { GatewayError } from '../errors.js';
import type { ConsumerServices } from '../consumers/services.js';
import type { CacheStoreRegistry } from '../cache/registry.js';
import type { ResourceRegistry } from '../resources/types.js';

export type HeaderValue = string | string[];
export type Headers = Record<string, HeaderValue>;

/** An answer produced by the gateway itself (respond routes, policies that short-circuit, errors). */
export interface Reply {
  status: number;
  headers?: Headers;
  body?: string | Buffer | Readable | null;
}

/** The upstream's response as the response-phase hooks see it. Header names are lower-case. */
export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** null when the response has no body (HEAD, 204, 304). */
  body: Readable | null;
}

/** Who is calling, once an auth policy has decided. */
export interface Consumer {
  /** Application id (stable, used in cache keys, limits and usage). */
  id: string;
  plan?: string;
  service?: string;
  /** Anonymous consumers are keyed by client IP. */
  anonymous?: boolean;
  attributes?: Record<string, unknown>;
}

/** The client's request as it arrived, parsed once. Read-only: what the upstream gets is `Exchange`'s own fields. */
export interface ClientRequestView {
  readonly method: string;
  /** The request target as sent (raw path + query). */
  readonly url: string;
  /** The raw path as sent (percent-encoded), before strip-prefix or rewrite. */
  readonly path: string;
  /** The raw query string without '?', '' when none. */
  readonly query: string;
  /** The client's headers as it sent them (lower-case names), whatever policies did to the upstream's. */
  readonly headers: Readonly<IncomingHttpHeaders>;
}

/**
 * A typed slot of per-request state (`ex.get(key)`, `ex.set(key, value)`), in place of string keys shared
 * between policies: a policy creates its keys once, at module level, and exports those other policies may read.
 */
export interface StateKey<T> {
  readonly name: string;
  /** Carries the type only; never set. */
  readonly type?: T;
}

export function stateKey<T>(name: string): StateKey<T> {
  return { name };
}

/** One request passing through a route. Fields marked mutable describe the request the upstream will get. */
export interface Exchange {
  readonly requestId: string;
  readonly routeName: string;
  /** The client's address, after trusted-proxy resolution of X-Forwarded-For. */
  readonly clientIp: string;
  /**
   * The scheme the client used: 'https' when its connection is TLS, or a trusted proxy (listen.trustedProxies)
   * said `X-Forwarded-Proto: https`. Absent: treat as 'http'.
   */
  readonly clientProto?: 'http' | 'https';
  /** The client's request as it arrived: method, path, query and headers, parsed once. */
  readonly client: ClientRequestView;
  /** @deprecated The client's request target as sent; read `client.url` (or `client.path`, `client.query`). */
  readonly clientUrl: string;
  /** Upstream method (mutable). */
  method: string;
  /** Upstream path, raw (percent-encoded as the client sent it), after strip-prefix/rewrite (mutable). */
  path: string;
  /** Upstream raw query string without '?', '' when none (mutable). */
  query: string;
  /** `:param` values from the route's match pattern, percent-decoded. */
  readonly params: Record<string, string>;
  /** Upstream request headers, lower-case names, hop-by-hop already removed (mutable). */
  headers: Headers;
  /** Upstream request body: the client's stream, or a replacement (mutable). null: no body. */
  body: Readable | string | Buffer | null;
  consumer?: Consumer;
  /** Per-request state of one policy, typed by its key (see `stateKey`). */
  get<T>(key: StateKey<T>): T | undefined;
  set<T>(key: StateKey<T>, value: T): void;
  /** @deprecated Untyped scratch space kept for existing custom policies; use `get`/`set` with a `StateKey`. */
  readonly state: Record<string, unknown>;
  readonly log: Logger;
  /** process.hrtime.bigint() when the request arrived. */
  readonly startedAt: bigint;
  /**
   * Keeps the upstream transfer going when the client leaves (a cache fill that other clients wait for).
   * Returns a function that aborts the transfer, or undefined when none is running.
   */
  detachUpstream(): (() => void) | undefined;
  /**
   * Adds a header to whatever response this exchange ends with (upstream answer, a policy's reply, or an
   * error), e.g. rate-limit headers. Cheaper than setting it on the response later.
   */
  addResponseHeader(name: string, value: string): void;
  /**
   * Runs this request again, detached from the client, from the calling policy onward: `prepare` stands in for
   * the caller's own onRequest on the copy (set its state there; a Reply ends the replay), then the policies
   * after it and the upstream; the response goes back through the response hooks of the caller and the
   * policies after it (so the caller sees it, e.g. to store it) and its body is drained. Nothing reaches a
   * client. Call it from a request-phase hook (the position is the hook running now). Settles when done;
   * never rejects for an upstream failure (the copy's onUpstreamError hooks see it).
   */
  replay(prepare?: (copy: Exchange) => void | Reply | Promise<void | Reply>): Promise<void>;
}

export interface ExchangeOutcome {
  status: number;
  bytesOut: number;
  error?: unknown;
}

/** Rewrites a response body chunk by chunk, synchronously (see `PolicyHooks.onResponseHead`). */
export interface BodyFilter {
  /** The bytes to send for this chunk (may be empty: held back until the next one). */
  chunk(buf: Buffer): Buffer;
  /** What is still held back, at the end of the body. */
  end(): Buffer | undefined;
}

export interface PolicyHooks {
  onRequest?(ex: Exchange): void | Reply | Promise<void | Reply>;
  onResponse?(ex: Exchange, res: UpstreamResponse): void | UpstreamResponse | Promise<void | UpstreamResponse>;
  /**
   * The cheap form of `onResponse` for a policy that only edits header values and body bytes in place,
   * keeping the body's length (masking): the proxy calls it on the upstream's head and writes the body
   * straight to the client through the returned filter, with no stream in between. Used only when every
   * response-phase policy of the route has it; `onResponse` stays required for policy replies and for
   * responses this hook sends back with `'stream'` (e.g. a compressed body), which it must decide before
   * touching `headers`. `headers` is the flat [name, value, …] list about to be written (lower-case names).
   */
  onResponseHead?(ex: Exchange, status: number, headers: string[]): BodyFilter | undefined | 'stream';
  /** The upstream failed before a response started (refused, reset, timeout): return a Reply to answer instead. */
  onUpstreamError?(ex: Exchange, err: GatewayError): void | Reply | Promise<void | Reply>;
  /** After the exchange ended, for counting; must not throw and must not do blocking work. */
  onDone?(ex: Exchange, outcome: ExchangeOutcome): void;
  /** Called when the config snapshot this policy belongs to is retired (hot reload, shutdown). */
  close?(): void | Promise<void>;
}

/**
 * What a policy factory may use. Narrow on purpose: never the server or the database. Stores are
 * interfaces; the control plane provides the implementations.
 */
export interface PolicyDeps {
  readonly routeName: string;
  /** Base URL of the route's upstream, if any (e.g. https://api.discogs.com). */
  readonly upstreamUrl: string | undefined;
  /** The gateway's public URL (config publicUrl). */
  readonly publicUrl: string;
  readonly log: Logger;
  /** Directory of the config file, for resolving relative paths in options. */
  readonly configDir: string;
  /** Marks a value secret: it is redacted from logs and error messages. Call it for every credential. */
  secret(value: string): void;
  /** Shared services by name (cache stores, limiter stores, consumer lookup); see src/policies/services.ts. */
  readonly services: PolicyServices;
  /**
   * Where this route's clients present their own credentials. Auth policies add to it when created; the cache
   * and the logs hash or redact those values, whatever their names. Complete only once every policy of the
   * route is created: read it per request, not in `create`.
   */
  readonly credentialLocations: CredentialLocations;
}

/** Query parameter names (as written, case-sensitive) and header names (lower-case) that carry client credentials. */
export interface CredentialLocations {
  readonly query: Set<string>;
  readonly headers: Set<string>;
}

/** Filled in by the control plane; each policy family adds its own optional field here. */
export interface PolicyServices {
  /** Consumer directory, limiter store and usage counter (auth, rate-limit, usage); built when the config uses them. */
  consumers?: ConsumerServices;
  /** Cache stores shared by the routes' cache policies (and kept across reloads); built by the gateway. */
  cacheStores?: CacheStoreRegistry;
  /** Tables of the config's `resources:`, for resource routes; built by the gateway when it declares some. */
  resources?: ResourceRegistry;
}

export interface PolicyDefinition<S extends z.ZodType = z.ZodType> {
  /** The key users write in config: `- cache: { ttl: 5m }`. */
  readonly name: string;
  /** One line for docs/config.md and `tollgate check`. */
  readonly description: string;
  /**
   * Chain order: higher runs earlier in the request phase (and later in the response phase). Ties keep the
   * order the user wrote. Bands: auth 1000, rate-limit 900, usage 850, validate 800, cache 700,
   * request transforms 500, credentials 300, response-only transforms 200.
   */
  readonly priority: number;
  readonly schema: S;
  create(options: z.output<S>, deps: PolicyDeps): PolicyHooks | Promise<PolicyHooks>;
}

/** Helps TypeScript infer the options type from the schema. */
export function definePolicy<S extends z.ZodType>(def: PolicyDefinition<S>): PolicyDefinition<S> {
  return def;
}
