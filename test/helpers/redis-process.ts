/**
 * A private redis-server for outage tests: started on a free port, killed (SIGKILL, as a crash or an OOM
 * kill would) and started again on the same port. Tests that only need a Redis use services.ts instead.
 *
 * `redisServerBinary()` follows services.ts' rule: under CI=true a missing binary fails the test file;
 * elsewhere it resolves to undefined and the suite is skipped with a message.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { closedPort } from './upstream.js';

const READY_TIMEOUT_MS = 5_000;

const inCi = (): boolean => Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/** Path of redis-server on PATH (or REDIS_SERVER_BIN), else undefined (skip) — or throws under CI=true. */
export function redisServerBinary(): string | undefined {
  const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.status === 0) return bin;
  const message = `${bin} is not available (${r.error?.message ?? r.stderr.trim()})`;
  if (inCi()) throw new Error(`${message}: CI is set, so tests that start their own Redis fail instead of skipping.`);
  console.warn(`[tests] SKIPPING Redis outage tests: ${message}. Install redis-server to run them.`);
  return undefined;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.once('data', (chunk) => done(chunk.toString('latin1').startsWith('+PONG')));
  });
}

export class RedisProcess {
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(
    readonly bin: string,
    readonly port: number,
  ) {}

  /** Starts a redis-server without persistence on a free port. */
  static async start(bin: string): Promise<RedisProcess> {
    const r = new RedisProcess(bin, await closedPort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** (Re)starts the server on its port and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.#child) return;
    const child = spawn(this.bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    child.stdout?.on('data', (c: Buffer) => (this.#output = (this.#output + c.toString()).slice(-4000)));
    child.stderr?.on('data', (c: Buffer) => (this.#output = (this.#output + c.toString()).slice(-4000)));
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    const until = Date.now() + READY_TIMEOUT_MS;
    while (!(await ping(this.port))) {
      if (!this.#child) throw new Error(`redis-server on port ${this.port} exited: ${this.#output}`);
      if (Date.now() > until) throw new Error(`redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms: ${this.#output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: no goodbye to the clients; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.#child = undefined;
  }

  /** SIGSTOP: the connection stays up but nothing answers (a network partition, a Redis stuck on disk). */
  freeze(): void {
    this.#child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.#child?.kill('SIGCONT');
  }

  async close(): Promise<void> {
    this.thaw();
    await this.kill();
  }
}
