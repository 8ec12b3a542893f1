/**
 * The upstream call: one undici handler (the controller API of undici 7: onRequestStart, onResponseStart,
 * onResponseData, onResponseEnd, onResponseError; pause/resume/abort on the controller). A route without
 * response-phase policies, or whose policies all edit in place (`onResponseHead`), writes the upstream's
 * bytes straight to the client, pacing the upstream by the client's socket; otherwise the body becomes a
 * stream the response phase reads. Idempotent requests without a body are retried on failures where the
 * upstream cannot have acted on them.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { BodyFilter, UpstreamResponse } from '../policies/types.js';
import type { ProxyExchange } from './exchange.js';
import { filterResponseRecord, flatToRecord } from './headers.js';
import { VIA } from './reply.js';
import { isRetryable, upstreamError } from './upstream.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const NO_BODY_STATUS = (status: number) => status === 204 || status === 304 || (status >= 100 && status < 200);

/** What the upstream call reports to the pipeline. */
export interface UpstreamEvents {
  /** The response phase, on the upstream's answer made a stream. */
  respond(ex: ProxyExchange, r: UpstreamResponse): void;
  failed(ex: ProxyExchange, err: unknown, label: string | undefined): void;
  /** The upstream failed (before a response started, or after: then the client's response is aborted). */
  upstreamFailed(ex: ProxyExchange, err: unknown): void;
}

/** Runs the route's onResponseHead hooks (response order) on the flat head; 'stream' when one needs the stream path. */
function headFilters(ex: ProxyExchange, status: number, flat: string[]): BodyFilter[] | undefined | 'stream' {
  let fs: BodyFilter[] | undefined;
  for (const e of ex.route.phases.responseHead!) {
    const f = e.hooks.onResponseHead!(ex, status, flat);
    if (f === 'stream') return 'stream';
    if (f) (fs ??= []).push(f);
  }
  return fs;
}

/** What the filters still hold at the end of the body; each one's tail passes through the filters after it. */
function endFilters(fs: BodyFilter[]): Buffer | undefined {
  let tail: Buffer | undefined;
  for (const f of fs) {
    const passed = tail?.length ? f.chunk(tail) : undefined;
    const rest = f.end();
    tail = passed?.length && rest?.length ? Buffer.concat([passed, rest]) : passed?.length ? passed : rest;
  }
  return tail;
}

class UpstreamCall implements Dispatcher.DispatchHandler {
  readonly #ex: ProxyExchange;
  readonly #events: UpstreamEvents;
  /** The client's response on the direct path; undefined for a replay (always the stream path). */
  readonly #res: ServerResponse | undefined;
  /** The response goes through a stream and the response phase. */
  #transform: boolean;
  #filters: BodyFilter[] | undefined;
  #stream: Readable | undefined;
  #started = false;
  #waitingDrain = false;

  constructor(ex: ProxyExchange, events: UpstreamEvents) {
    this.#ex = ex;
    this.#events = events;
    this.#res = ex.res;
    this.#transform = ex.res === undefined || ex.route.phases.response.length > 0;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#ex.upstream = controller;
    if (this.#res?.destroyed) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    const ex = this.#ex;
    ex.upstreamMs = Number(process.hrtime.bigint() - ex.upstreamStart) / 1e6;
    if (status < 200) return; // 1xx interim responses are not forwarded
    this.#started = true;
    const flat = filterResponseRecord(headers, [], ex.route.redirects, ex.mount);
    const res = this.#res;
    if (this.#transform && res !== undefined && ex.route.phases.responseHead) {
      let f: BodyFilter[] | undefined | 'stream';
      try {
        f = headFilters(ex, status, flat);
      } catch (e) {
        controller.abort(e as Error);
        this.#events.failed(ex, e, 'onResponseHead');
        return;
      }
      if (f !== 'stream') {
        this.#transform = false;
        this.#filters = f;
      }
    }
    if (!this.#transform) {
      flat.push('x-request-id', ex.requestId, 'via', VIA);
      const extra = ex.extraHeaders;
      if (extra) for (let i = 0; i < extra.length; i++) flat.push(extra[i]);
      res!.writeHead(status, flat);
      return;
    }
    const noBody = ex.method === 'HEAD' || NO_BODY_STATUS(status);
    const stream = noBody ? undefined : new Readable({ read: () => controller.resume() });
    this.#stream = stream;
    this.#events.respond(ex, { status, headers: flatToRecord(flat), body: stream ?? null });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const stream = this.#stream;
    if (stream) {
      if (!stream.push(chunk)) controller.pause();
      return;
    }
    if (this.#transform) return;
    if (this.#filters) {
      for (const f of this.#filters) chunk = f.chunk(chunk);
      if (chunk.length === 0) return;
    }
    const res = this.#res!;
    if (!res.write(chunk)) {
      controller.pause();
      if (!this.#waitingDrain) {
        this.#waitingDrain = true;
        res.once('drain', () => {
          this.#waitingDrain = false;
          controller.resume();
        });
      }
    }
  }

  onResponseEnd(): void {
    if (this.#stream) {
      this.#stream.push(null);
      return;
    }
    if (this.#transform) return;
    const res = this.#res!;
    const tail = this.#filters && endFilters(this.#filters);
    if (tail?.length) res.write(tail);
    res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const ex = this.#ex;
    if (this.#stream) {
      this.#stream.destroy(upstreamError(err));
      return;
    }
    const res = this.#res;
    const upstream = ex.route.upstream!;
    if (!this.#started && !res?.destroyed && ex.attempts <= upstream.retryAttempts && ex.body === null && IDEMPOTENT.has(ex.method) && isRetryable(err)) {
      ex.log.debug({ requestId: ex.requestId, attempt: ex.attempts, err: err.message }, 'retrying upstream request');
      dispatch(ex, this.#events);
      return;
    }
    if (res !== undefined && (res.destroyed || res.writableEnded)) return;
    this.#events.upstreamFailed(ex, err);
  }
}

/** Sends the exchange's request to one of the route's upstream targets. */
export function dispatch(ex: ProxyExchange, events: UpstreamEvents): void {
  const target = ex.route.upstream!.pick();
  ex.attempts++;
  ex.upstreamStart = process.hrtime.bigint();
  try {
    target.pool.dispatch(
      {
        path: target.basePath + ex.path + (ex.query ? '?' + ex.query : ''),
        method: ex.method,
        headers: ex.headers as Record<string, string | string[]>,
        body: ex.body,
        // Let the client's stream pace the upload; undici reads it as it is consumed.
        idempotent: IDEMPOTENT.has(ex.method),
      },
      new UpstreamCall(ex, events),
    );
  } catch (e) {
    events.upstreamFailed(ex, e);
  }
}
