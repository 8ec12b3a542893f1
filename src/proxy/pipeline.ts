/**
 * The route's policy chain at request time: one phase runner over hook lists made once per route, when the
 * config compiles (`compilePhases`). A request runs the request phase, then the upstream (dispatch.ts) or the
 * route's own answer, then the response phase, and ends with the done phase; a failing upstream runs the
 * upstream-error phase. A hook that answers by itself (a Reply at chain position p) sends that answer back
 * through the response hooks of the policies before p only: `replyAt[p]` says where in the response list
 * those start. Hooks that return plain values run without a promise in between.
 */
import { GatewayError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ExchangeOutcome, PolicyHooks, Reply, UpstreamResponse } from '../policies/types.js';
import type { Logger } from 'pino';
import { dispatch } from './dispatch.js';
import type { UpstreamEvents } from './dispatch.js';
import { ProxyExchange } from './exchange.js';
import type { ExchangeRunner, ReplayPrepare, ReplayState } from './exchange.js';
import { VIA, replyToResponse, sendError, writeResponse } from './reply.js';
import type { ChainEntry } from './snapshot.js';
import { upstreamError } from './upstream.js';

type HookName = 'onRequest' | 'onResponse' | 'onUpstreamError' | 'onDone';

/** One policy's hook for one phase. */
interface HookEntry {
  /** Position of the policy in the route's chain. */
  readonly at: number;
  readonly label: string;
  readonly hooks: PolicyHooks;
  readonly fn: (this: PolicyHooks, ...args: never[]) => unknown;
}

export interface RoutePhases {
  /** onRequest hooks, chain order. */
  readonly request: readonly HookEntry[];
  /** onResponse hooks, reverse chain order (the policy nearest the upstream first). */
  readonly response: readonly HookEntry[];
  /** onUpstreamError hooks, chain order. */
  readonly upstreamError: readonly HookEntry[];
  /** onDone hooks, chain order. */
  readonly done: readonly HookEntry[];
  /**
   * Set when every response hook of the route can work on the direct path (`onResponseHead`), in response
   * order: the stream path is then taken only when one of them asks for it.
   */
  readonly responseHead: readonly HookEntry[] | undefined;
  /**
   * For each chain position p (and p = chain length, the route's own `respond`): the index in `response`
   * where the hooks of the policies before p start. A reply made at p runs `response[replyAt[p]…]`.
   */
  readonly replyAt: readonly number[];
}

function entries(chain: readonly ChainEntry[], name: HookName | 'onResponseHead'): HookEntry[] {
  const out: HookEntry[] = [];
  chain.forEach((c, at) => {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- the runner calls it as fn.call(hooks, …)
    const fn = c.hooks[name];
    if (fn) out.push({ at, label: c.label, hooks: c.hooks, fn });
  });
  return out;
}

/** The route's phases, computed once when the config compiles. */
export function compilePhases(chain: readonly ChainEntry[]): RoutePhases {
  const response = entries(chain, 'onResponse').reverse();
  const head = entries(chain, 'onResponseHead').reverse();
  const replyAt: number[] = [];
  for (let p = 0; p <= chain.length; p++) {
    const i = response.findIndex((e) => e.at < p);
    replyAt.push(i === -1 ? response.length : i);
  }
  return {
    request: entries(chain, 'onRequest'),
    response,
    upstreamError: entries(chain, 'onUpstreamError'),
    done: entries(chain, 'onDone'),
    responseHead: response.length > 0 && response.every((e) => e.hooks.onResponseHead !== undefined) ? head : undefined,
    replyAt,
  };
}

/** How a phase treats its hooks' results, and what follows it. */
interface Phase<A> {
  /** A result replaces the argument and the phase goes on (response phase); otherwise it ends the phase. */
  readonly fold: boolean;
  end(ex: ProxyExchange, arg: A, by: HookEntry | undefined, result: unknown): void;
  fail(ex: ProxyExchange, err: unknown, by: HookEntry, arg: A): void;
}

/** The one runner: hooks `from` to `to` (exclusive), synchronously until a hook returns a promise. */
function runPhase<A>(ex: ProxyExchange, list: readonly HookEntry[], from: number, to: number, arg: A, phase: Phase<A>): void {
  for (let i = from; i < to; i++) {
    const e = list[i];
    ex.position = e.at;
    let r: unknown;
    try {
      r = (e.fn as (this: PolicyHooks, ex: ProxyExchange, arg: A) => unknown).call(e.hooks, ex, arg);
    } catch (err) {
      return phase.fail(ex, err, e, arg);
    }
    if (r === undefined || r === null || r === false) continue;
    if (typeof (r as PromiseLike<unknown>).then === 'function') {
      (r as PromiseLike<unknown>).then(
        (v) => {
          if (v) {
            if (!phase.fold) return phase.end(ex, arg, e, v);
            arg = v as A;
          }
          runPhase(ex, list, i + 1, to, arg, phase);
        },
        (err: unknown) => phase.fail(ex, err, e, arg),
      );
      return;
    }
    if (!phase.fold) return phase.end(ex, arg, e, r);
    arg = r as A;
  }
  phase.end(ex, arg, undefined, undefined);
}

/** First index in `list` of a policy at chain position `pos` or later. */
function firstFrom(list: readonly HookEntry[], pos: number): number {
  let i = 0;
  while (i < list.length && list[i].at < pos) i++;
  return i;
}

export interface Pipeline extends UpstreamEvents, ExchangeRunner {
  /** Runs a new exchange: request phase, then the upstream or the route's answer. */
  start(ex: ProxyExchange): void;
  /** The done phase, once per exchange. */
  finish(ex: ProxyExchange, status: number, bytesOut: number, error?: unknown): void;
}

export function createPipeline(log: Logger): Pipeline {
  const REQUEST: Phase<undefined> = {
    fold: false,
    end(ex, _arg, by, reply) {
      if (by) replyAt(ex, by.at, reply as Reply);
      else afterRequest(ex);
    },
    fail: (ex, err, by) => failed(ex, err, by.label),
  };

  const RESPONSE: Phase<UpstreamResponse> = {
    fold: true,
    end: (ex, r) => deliver(ex, r),
    fail(ex, err, by, r) {
      r.body?.destroy();
      failed(ex, err, by.label);
    },
  };

  const UPSTREAM_ERROR: Phase<GatewayError> = {
    fold: false,
    end(ex, ge, by, reply) {
      if (by) replyAt(ex, by.at, reply as Reply);
      else sendFail(ex, ge);
    },
    fail: (ex, err, by) => failed(ex, err, by.label),
  };

  /** Where the response phase stops: a replay's goes back no further than the policy that asked for it. */
  function responseEnd(ex: ProxyExchange): number {
    const ph = ex.route.phases;
    return ex.replaying ? ph.replyAt[ex.replaying.from] : ph.response.length;
  }

  function start(ex: ProxyExchange): void {
    const request = ex.route.phases.request;
    if (request.length === 0) return afterRequest(ex);
    // A policy may read the body; a client waiting for 100 Continue must not stall it.
    if (ex.expectContinue && ex.body !== null) {
      ex.expectContinue = false;
      ex.res?.writeContinue();
    }
    runPhase(ex, request, 0, request.length, undefined, REQUEST);
  }

  function afterRequest(ex: ProxyExchange): void {
    // Already answered meanwhile (body idle timeout): nothing more goes out.
    if (ex.answered) return;
    const route = ex.route;
    if (route.respond) return replyAt(ex, route.chain.length, route.respond);
    const body = ex.body;
    if (body !== null && (typeof body === 'string' || Buffer.isBuffer(body))) {
      ex.headers['content-length'] = String(Buffer.byteLength(body));
      delete ex.headers['transfer-encoding'];
    } else if (ex.expectContinue && body !== null) {
      ex.expectContinue = false;
      ex.res?.writeContinue();
    }
    dispatch(ex, pipeline);
  }

  /** A reply made at chain position `at` goes back through the response hooks of the policies before it. */
  function replyAt(ex: ProxyExchange, at: number, reply: Reply): void {
    if (ex.answered) return;
    const from = ex.route.phases.replyAt[at];
    const to = responseEnd(ex);
    if (from >= to) return deliver(ex, reply, false);
    runPhase(ex, ex.route.phases.response, from, to, replyToResponse(reply), RESPONSE);
  }

  /** The response phase on the upstream's answer (stream path). */
  function respond(ex: ProxyExchange, r: UpstreamResponse): void {
    runPhase(ex, ex.route.phases.response, 0, responseEnd(ex), r, RESPONSE);
  }

  /** Writes the final answer to the client; a replay drains it instead. */
  function deliver(ex: ProxyExchange, r: UpstreamResponse | Reply, viaGateway = true): void {
    const res = ex.res;
    if (res === undefined) return drain(ex, r);
    if (res.destroyed) {
      if (r.body && typeof r.body === 'object' && !Buffer.isBuffer(r.body)) r.body.destroy();
      return;
    }
    if (viaGateway) (r.headers ??= {})['via'] = VIA;
    writeResponse(res, ex.requestId, r, ex.extraHeaders);
  }

  function drain(ex: ProxyExchange, r: UpstreamResponse | Reply): void {
    const replay = ex.replaying!;
    const b = r.body;
    if (!b || typeof b === 'string' || Buffer.isBuffer(b)) return replay.settle(r.status);
    const done = (err?: Error) => replay.settle(r.status, err);
    b.once('end', () => done());
    b.once('close', () => done());
    b.once('error', done);
    b.resume();
  }

  function sendFail(ex: ProxyExchange, e: GatewayError | ErrorCode): void {
    if (ex.res === undefined) return ex.replaying!.settle(undefined, e);
    sendError(ex.res, ex.requestId, e, false, ex.extraHeaders);
  }

  function failed(ex: ProxyExchange, e: unknown, label: string | undefined): void {
    if (e instanceof GatewayError) return sendFail(ex, e);
    log.error({ err: e, requestId: ex.requestId, route: ex.route.name, policy: label }, 'policy failed');
    if (ex.res === undefined) return ex.replaying!.settle(undefined, e);
    sendError(ex.res, ex.requestId, 'TG_INTERNAL');
  }

  function upstreamFailed(ex: ProxyExchange, err: unknown): void {
    const ge = upstreamError(err);
    if (ex.res?.headersSent) {
      ex.res.destroy(ge);
      return;
    }
    const list = ex.route.phases.upstreamError;
    runPhase(ex, list, ex.replaying ? firstFrom(list, ex.replaying.from) : 0, list.length, ge, UPSTREAM_ERROR);
  }

  function finish(ex: ProxyExchange, status: number, bytesOut: number, error?: unknown): void {
    ex.done = true;
    const list = ex.route.phases.done;
    if (list.length === 0) return;
    const outcome: ExchangeOutcome = error === undefined ? { status, bytesOut } : { status, bytesOut, error };
    for (let i = ex.replaying ? firstFrom(list, ex.replaying.from) : 0; i < list.length; i++) {
      const e = list[i];
      try {
        e.hooks.onDone!(ex, outcome);
      } catch (err) {
        log.error({ err, policy: e.label }, 'policy onDone failed');
      }
    }
  }

  function replay(source: ProxyExchange, prepare: ReplayPrepare | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let settled = false;
      const state: ReplayState = {
        from: source.position,
        settle(status, error) {
          if (settled) return;
          settled = true;
          finish(rx, status ?? 0, 0, error);
          resolve();
        },
      };
      const rx = new ProxyExchange(source.copyForReplay(state));
      const request = rx.route.phases.request;
      const go = () => runPhase(rx, request, firstFrom(request, state.from + 1), request.length, undefined, REQUEST);
      if (!prepare) return go();
      rx.position = state.from;
      let r: ReturnType<ReplayPrepare>;
      try {
        r = prepare(rx);
      } catch (e) {
        return failed(rx, e, 'replay');
      }
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        (r as Promise<void | Reply>).then(
          (reply) => (reply ? replyAt(rx, state.from, reply) : go()),
          (e: unknown) => failed(rx, e, 'replay'),
        );
      } else if (r) replyAt(rx, state.from, r as Reply);
      else go();
    });
  }

  const pipeline: Pipeline = { start, finish, respond, failed, upstreamFailed, replay };
  return pipeline;
}
