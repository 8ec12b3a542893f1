/**
 * The access log: one JSON line per request, in pino's line shape (level, time, msg) so one log pipeline
 * reads both. The line is built by hand and handed to the logger's own destination: on this path pino's
 * generic serializer cost a measurable share of a cache hit, and the fields here are few and known.
 * Nothing secret is written: no headers; the URL goes through the snapshot's redactor.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import type { AccessLogEntry } from './handler.js';
import type { Snapshot } from './snapshot.js';

const INFO = 30;

/** Lines wait at most this long, or until this many bytes are pending, before they are written. */
const FLUSH_MS = 50;
const FLUSH_BYTES = 64 * 1024;

export interface AccessLog {
  write(e: AccessLogEntry): void;
  /** Hands pending lines to the destination now (shutdown). */
  flush(): void;
}

export function createAccessLog(log: Logger, current: () => Snapshot): AccessLog {
  const stream = (log as unknown as Record<symbol, { write(line: string): unknown } | undefined>)[pino.symbols.streamSym];
  let lastMs = 0;
  let lastIso = '';
  // Lines go out in batches: a write into the destination per line cost several microseconds each, a
  // visible share of a cache hit. A timer bounds how late a line can be.
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (!pending) return;
    const out = pending;
    pending = '';
    if (stream) stream.write(out);
    else for (const l of out.split('\n')) if (l) log.info(JSON.parse(l) as object);
  };
  const write = (e: AccessLogEntry) => {
    if (!log.isLevelEnabled('info')) return;
    const snap = e.ex?.snap ?? current();
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastIso = new Date(now).toISOString();
    }
    const ms = Math.round(Number(process.hrtime.bigint() - e.startedAt) / 1e4) / 100;
    let line = `{"level":${INFO},"time":"${lastIso}","requestId":${JSON.stringify(e.requestId)},"method":${JSON.stringify(e.method)},"url":${JSON.stringify(snap.redactUrl(e.url))}`;
    if (e.ex) line += `,"route":${JSON.stringify(e.ex.routeName)}`;
    line += `,"status":${e.status},"ms":${ms}`;
    if (e.upstreamMs !== undefined) line += `,"upstreamMs":${Math.round(e.upstreamMs * 100) / 100}`;
    line += `,"bytes":${e.bytes}`;
    if (e.ex) line += `,"client":${JSON.stringify(e.ex.clientIp)}`;
    if (e.error) line += `,"err":${JSON.stringify(snap.redactText(String((e.error as Error).message ?? e.error)))}`;
    line += ',"msg":"request"}\n';
    pending += line;
    if (pending.length > FLUSH_BYTES) flush();
    else if (!timer) {
      timer = setTimeout(flush, FLUSH_MS);
      timer.unref();
    }
  };
  return { write, flush };
}
