/**
 * The real gateway, in-process, started from YAML text (or a file, for reload tests), plus two clients
 * that do not normalise what they send: `send` (node:http, raw path kept) and `rawRequest` (bytes on a
 * node:net socket, for targets no HTTP client would send).
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import pino from 'pino';
import { startGateway } from '../../src/gateway.js';
import type { Gateway } from '../../src/gateway.js';
import { closeAll, startUpstream, track } from './upstream.js';
import type { Answer, TestUpstream } from './upstream.js';

export { closeAll };

export interface TestGateway {
  url: string;
  port: number;
  adminUrl: string;
  gateway: Gateway;
  /** Parsed log lines, when started with `logs: true`. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface StartOptions {
  /** Capture log lines (level info) in `logs` instead of discarding them. */
  logs?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Read the config from this file (reload re-reads it) instead of `yaml`. */
  configFile?: string;
}

export async function startTestGateway(yaml: string, opts: StartOptions = {}): Promise<TestGateway> {
  const logs: Record<string, unknown>[] = [];
  const log = opts.logs ? pino({ level: 'info' }, {
          // A write may carry several lines: the access log batches them.
          write: (chunk: string) => {
            for (const line of chunk.split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
          },
        }) : pino({ level: 'silent' });
  const gateway = await startGateway({
    ...(opts.configFile ? { configFile: opts.configFile } : { configText: { text: yaml, name: 'test.yaml' } }),
    ...(opts.env ? { env: opts.env } : {}),
    log,
    overrides: { host: '127.0.0.1', port: 0, adminPort: 0 },
  });
  let closed = false;
  const tg: TestGateway = {
    url: gateway.url,
    port: Number(new URL(gateway.url).port),
    adminUrl: gateway.adminUrl ?? '',
    gateway,
    logs,
    async close() {
      if (closed) return;
      closed = true;
      await gateway.shutdown();
    },
  };
  return track(tg);
}

/**
 * A real upstream answering with `answer`, behind a gateway whose one catch-all route runs `policies`
 * (YAML: a flow list like ` [{ cache: {} }]`, or a block list starting on the next line). `top` adds
 * top-level settings (publicUrl, plans, …).
 */
export async function gatewayWithPolicies(
  answer: Answer,
  policies: string,
  opts: StartOptions & { top?: string } = {},
): Promise<{ up: TestUpstream; gw: TestGateway }> {
  const up = await startUpstream(answer);
  const yaml = `${opts.top ?? ''}\nupstreams:\n  app: { url: "${up.url}" }\nroutes:\n  - match: { prefix: / }\n    upstream: app\n    policies:${policies}\n`;
  const gw = await startTestGateway(yaml, opts);
  return { up, gw };
}

export interface SendResult {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

export interface SendOptions {
  method?: string;
  /** Sent as is: node:http does not normalise or re-encode it. */
  path?: string;
  headers?: OutgoingHttpHeaders | string[];
  /** A Buffer/string is sent in one write; an iterable is written chunk by chunk (chunked unless a length is set). */
  body?: Buffer | string | AsyncIterable<Buffer> | Iterable<Buffer>;
}

/** One request on a fresh connection; resolves when the response body has ended, rejects if it aborts. */
export function send(baseUrl: string, opts: SendOptions = {}): Promise<SendResult> {
  const u = new URL(baseUrl);
  let headers = opts.headers;
  // node:http adds Host by itself only when headers are an object.
  if (Array.isArray(headers) && rawHeader(headers, 'host') === undefined) headers = ['Host', u.host, ...headers];
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      { host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers, agent: false },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
        res.on('end', () => {
          if (!res.complete) return reject(new Error('response incomplete'));
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body, json: <T>() => JSON.parse(body.toString()) as T });
        });
      },
    );
    // The gateway may answer (413) and close while the client still uploads: that write error is expected.
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    const b = opts.body;
    if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b)) {
      req.end(b);
      return;
    }
    void (async () => {
      try {
        for await (const chunk of b as AsyncIterable<Buffer>) {
          if (req.destroyed) return;
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      } catch {
        // The connection went away mid-upload; the response (or its absence) tells the test what happened.
      }
    })();
  });
}

export interface RawResult {
  status: number;
  head: string;
  body: string;
  header(name: string): string | undefined;
}

/**
 * Writes `text` on a new TCP connection and reads until the server closes it (or `timeoutMs` passes).
 * For request targets that HTTP clients would refuse or normalise.
 */
export function rawRequest(baseUrl: string, text: string | Buffer, timeoutMs = 2000): Promise<RawResult> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('latin1');
      const end = all.indexOf('\r\n\r\n');
      if (end === -1) return reject(new Error(`no HTTP response, got ${JSON.stringify(all.slice(0, 200))}`));
      const head = all.slice(0, end);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const header = (name: string) => {
        const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
        return m?.[1].trim();
      };
      resolve({ status, head, body: all.slice(end + 4), header });
    });
    socket.write(text);
  });
}

/** `count` buffers of `size` bytes, generated lazily so the sender holds one at a time. */
export function* chunks(count: number, size = 64 * 1024, fill = 0x61): Generator<Buffer> {
  const buf = Buffer.alloc(size, fill);
  for (let i = 0; i < count; i++) yield buf;
}

/** Value of a header in a raw [name, value, …] list, case-insensitive; all values joined with ", ". */
export function rawHeader(raw: string[], name: string): string | undefined {
  const want = name.toLowerCase();
  const vals: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === want) vals.push(raw[i + 1]);
  return vals.length ? vals.join(', ') : undefined;
}
