/**
 * The per-request object: what policies see (the `Exchange` contract of src/policies/types.ts) and what the
 * pipeline, the upstream call and the access log keep about one request. Built from one options object by
 * the handler (a client's request) or by `replay` (a copy detached from any client). Whatever a request may
 * never need (the client view, untyped state, typed slots) is made on first use.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { ClientRequestView, Consumer, Exchange, Headers, Reply, StateKey } from '../policies/types.js';
import type { CompiledRoute, Snapshot } from './snapshot.js';

/** What an exchange asks of the pipeline that runs it. */
export interface ExchangeRunner {
  replay(source: ProxyExchange, prepare: ReplayPrepare | undefined): Promise<void>;
}

export type ReplayPrepare = (copy: Exchange) => void | Reply | Promise<void | Reply>;

/** A replayed exchange: where in the chain it was cut, and how it reports that it is over. */
export interface ReplayState {
  /** Chain position of the policy that asked for the replay. */
  readonly from: number;
  /** The replay is over: its answer's status (none when it failed before one), and the failure if any. */
  settle(status?: number, error?: unknown): void;
}

export interface ExchangeOptions {
  readonly snap: Snapshot;
  readonly route: CompiledRoute;
  readonly runner: ExchangeRunner;
  readonly log: Logger;
  readonly requestId: string;
  readonly startedAt: bigint;
  /** The client's request and response; both undefined for a replay. */
  readonly req: IncomingMessage | undefined;
  readonly res: ServerResponse | undefined;
  readonly clientIp: string;
  readonly clientProto: 'http' | 'https';
  /** The client's request as it arrived; its view (`ex.client`) is built on first read. */
  readonly clientMethod: string;
  readonly clientUrl: string;
  readonly clientPath: string;
  readonly clientQuery: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly params: Record<string, string>;
  readonly headers: Headers;
  readonly body: Exchange['body'];
  /** The raw prefix stripPrefix removed (no trailing slash), put back into rewritten redirects. */
  readonly mount: string;
  readonly expectContinue: boolean;
  readonly consumer?: Consumer;
  readonly replay?: ReplayState;
  /** A replay starts from the view of the exchange it copies. */
  readonly client?: ClientRequestView;
}

class ClientView implements ClientRequestView {
  readonly #req: IncomingMessage | undefined;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly path: string,
    readonly query: string,
    req: IncomingMessage | undefined,
  ) {
    this.#req = req;
  }
  get headers(): Readonly<IncomingHttpHeaders> {
    return this.#req?.headers ?? {};
  }
}

export class ProxyExchange implements Exchange {
  readonly snap: Snapshot;
  readonly route: CompiledRoute;
  readonly log: Logger;
  readonly requestId: string;
  readonly routeName: string;
  readonly startedAt: bigint;
  readonly clientIp: string;
  readonly clientProto: 'http' | 'https';
  readonly params: Record<string, string>;
  /** The client's request and response (proxy-side only; not part of the policy contract). */
  readonly req: IncomingMessage | undefined;
  readonly res: ServerResponse | undefined;
  /** Set on a replayed exchange. */
  readonly replaying: ReplayState | undefined;
  method: string;
  path: string;
  query: string;
  headers: Headers;
  body: Exchange['body'];
  consumer: Consumer | undefined;
  readonly mount: string;
  /** The client waits for 100 Continue: sent only once the body is really going to be read. */
  expectContinue: boolean;
  /** Chain position of the request-phase hook running now (what `replay` copies from). */
  position = 0;
  /** Upstream attempts so far (retries of idempotent requests count). */
  attempts = 0;
  upstreamStart = 0n;
  /** Time to the upstream's response head, ms; undefined when the upstream was not reached. */
  upstreamMs: number | undefined;
  /** The upstream transfer running now (undici's controller), until it ends or is detached. */
  upstream: Dispatcher.DispatchController | undefined;
  /** The exchange ended (response finished or the client left). */
  done = false;
  /** Flat [name, value, …] headers policies added for the response. */
  extraHeaders: string[] | undefined;
  // Kept apart rather than the options object, so the object can die young (or never be allocated).
  readonly #runner: ExchangeRunner;
  readonly #clientMethod: string;
  readonly #clientUrl: string;
  readonly #clientPath: string;
  readonly #clientQuery: string;
  #client: ClientRequestView | undefined;
  #state: Record<string, unknown> | undefined;
  #slots: Map<StateKey<unknown>, unknown> | undefined;

  constructor(o: ExchangeOptions) {
    this.#runner = o.runner;
    this.#clientMethod = o.clientMethod;
    this.#clientUrl = o.clientUrl;
    this.#clientPath = o.clientPath;
    this.#clientQuery = o.clientQuery;
    this.snap = o.snap;
    this.route = o.route;
    this.routeName = o.route.name;
    this.log = o.log;
    this.requestId = o.requestId;
    this.startedAt = o.startedAt;
    this.req = o.req;
    this.res = o.res;
    this.replaying = o.replay;
    this.clientIp = o.clientIp;
    this.clientProto = o.clientProto;
    this.method = o.method;
    this.path = o.path;
    this.query = o.query;
    this.params = o.params;
    this.headers = o.headers;
    this.body = o.body;
    this.consumer = o.consumer;
    this.mount = o.mount;
    this.expectContinue = o.expectContinue;
    this.#client = o.client;
  }

  get client(): ClientRequestView {
    return (this.#client ??= new ClientView(this.#clientMethod, this.#clientUrl, this.#clientPath, this.#clientQuery, this.req));
  }

  /** @deprecated read `client.url`. */
  get clientUrl(): string {
    return this.#clientUrl;
  }

  /** @deprecated use get/set with a StateKey. */
  get state(): Record<string, unknown> {
    return (this.#state ??= {});
  }

  get<T>(key: StateKey<T>): T | undefined {
    return this.#slots?.get(key) as T | undefined;
  }

  set<T>(key: StateKey<T>, value: T): void {
    (this.#slots ??= new Map()).set(key, value);
  }

  /** Nothing more can be written for this exchange: answered, or its client is gone. */
  get answered(): boolean {
    const res = this.res;
    return res !== undefined && (res.destroyed || res.headersSent);
  }

  addResponseHeader(name: string, value: string): void {
    (this.extraHeaders ??= []).push(name.toLowerCase(), value);
  }

  detachUpstream(): (() => void) | undefined {
    const c = this.upstream;
    this.upstream = undefined;
    return c ? () => c.abort(new Error('nobody is waiting for this upstream body any more')) : undefined;
  }

  /** Aborts the upstream transfer, unless a policy detached it (it keeps going for others). */
  abortUpstream(err: Error): void {
    this.upstream?.abort(err);
  }

  replay(prepare?: ReplayPrepare): Promise<void> {
    return this.#runner.replay(this, prepare);
  }

  /** The options for a copy of this exchange as it is now, detached from the client (see `replay`). */
  copyForReplay(replay: ReplayState): ExchangeOptions {
    return {
      snap: this.snap,
      route: this.route,
      runner: this.#runner,
      log: this.log,
      requestId: this.requestId,
      clientIp: this.clientIp,
      clientProto: this.clientProto,
      clientMethod: this.#clientMethod,
      clientUrl: this.#clientUrl,
      clientPath: this.#clientPath,
      clientQuery: this.#clientQuery,
      params: this.params,
      mount: this.mount,
      req: undefined,
      res: undefined,
      client: this.client,
      startedAt: process.hrtime.bigint(),
      method: this.method,
      path: this.path,
      query: this.query,
      headers: { ...this.headers },
      body: null,
      consumer: this.consumer,
      expectContinue: false,
      replay,
    };
  }
}
