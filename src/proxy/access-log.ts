/**
 * The access log: one JSON line per request, in pino's line shape (level, time, msg) so one log pipeline
 * reads both. The line is built by hand and handed to the logger's own destination (src/log-sink.ts), which
 * copies it once into its write buffer: on this path pino's generic serializer, and sonic-boom's per-line
 * bookkeeping, cost a measurable share of a cache hit, and the fields here are few and known.
 * Nothing secret is written: no headers; the URL goes through the snapshot's redactor.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import type { AccessLogEntry } from './handler.js';
import type { Snapshot } from './snapshot.js';
import { LogSink } from '../log-sink.js';

const INFO = 30;
/** Year 10000: toISOString's fixed-width form ends there. */
const MAX_4_DIGIT_YEAR_MS = 253402300800000;

/** Lines wait at most this long, or until this many bytes are pending, before they are written. */
const FLUSH_MS = 50;
const FLUSH_BYTES = 64 * 1024;

export interface AccessLog {
  write: (e: AccessLogEntry) => void;
  /** Hands pending lines to the destination now (shutdown). */
  flush(): void;
}

export function createAccessLog(log: Logger, current: () => Snapshot): AccessLog {
  const stream = (log as unknown as Record<symbol, { write(line: string): unknown } | undefined>)[pino.symbols.streamSym];
  // The gateway's own destination (src/log-sink.ts) takes each line as it is made: it buffers them itself.
  const sink = stream instanceof LogSink ? stream : undefined;
  let lastMs = NaN;
  let lastIso = '';
  // toISOString costs about half a microsecond: made once a second, the milliseconds appended to it.
  let lastSec = NaN;
  let secIso = '';
  const isoTime = (now: number): string => {
    if (!(now >= 0 && now < MAX_4_DIGIT_YEAR_MS)) return new Date(now).toISOString();
    const m = now % 1000;
    const sec = now - m;
    if (sec !== lastSec) {
      lastSec = sec;
      secIso = new Date(sec).toISOString().slice(0, 20); // YYYY-MM-DDTHH:MM:SS.
    }
    return secIso + (m < 10 ? '00' : m < 100 ? '0' : '') + m + 'Z';
  };
  // Any other destination (pino-pretty's worker, a test's stream) gets the lines in batches: a write per
  // line there costs several microseconds. A timer bounds how late a line can be.
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (sink) return sink.flush();
    clearTimeout(timer);
    timer = undefined;
    if (!pending) return;
    const out = pending;
    pending = '';
    if (stream) stream.write(out);
    else for (const l of out.split('\n')) if (l) log.info(JSON.parse(l) as object);
  };
  // Route names are few: each one's JSON form is made once.
  const routeJson = new Map<string, string>();
  const write = (e: AccessLogEntry) => {
    if (!log.isLevelEnabled('info')) return;
    const snap = e.ex?.snap ?? current();
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastIso = isoTime(now);
    }
        // The request id (the handler's REQUEST_ID pattern, or a UUID) and the method (a token node's parser
    // accepted) never need escaping.
    let line = `{"level":${INFO},"time":"${lastIso}","requestId":"${e.requestId}","method":"${e.method}","url":${str(snap.redactUrl(e.url))}`;
    if (e.ex) {
      const name = e.ex.routeName;
      let rj = routeJson.get(name);
      if (rj === undefined) routeJson.set(name, (rj = `,"route":${JSON.stringify(name)}`));
      line += rj;
    }
    line += `,"status":${e.status},"ms":${hundredths(e.ms)}`;
    if (e.upstreamMs !== undefined) line += `,"upstreamMs":${hundredths(e.upstreamMs)}`;
    line += `,"bytes":${e.bytes}`;
    if (e.ex) line += `,"client":${str(e.ex.clientIp)}`;
    if (e.error) line += `,"err":${JSON.stringify(snap.redactText(String((e.error as Error).message ?? e.error)))}`;
    line += ',"msg":"request"}\n';
    if (sink) return void sink.write(line);
    pending += line;
    if (pending.length > FLUSH_BYTES) flush();
    else if (!timer) {
      timer = setTimeout(flush, FLUSH_MS);
      timer.unref();
    }
  };
  return { write, flush };
}

/**
 * `ms` rounded to hundredths, as JSON writes Math.round(ms * 100) / 100 (1.5, 2, 0.07), from integers: a
 * float's shortest form costs several times an integer's.
 */
function hundredths(ms: number): string {
  const n = Math.round(ms * 100);
  if (!(n >= 0 && n < 1e15)) return String(Math.round(ms * 100) / 100);
  const frac = n % 100;
  const int = (n - frac) / 100;
  if (frac === 0) return String(int);
  if (frac % 10 === 0) return `${int}.${frac / 10}`;
  return `${int}.${frac < 10 ? '0' : ''}${frac}`;
}

/** Characters JSON must escape (RFC 8259 §7), and surrogates (JSON.stringify writes lone ones as escapes); request ids, methods, addresses and most URLs have none. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal: quoted as is when nothing needs escaping, else JSON.stringify. */
function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}
