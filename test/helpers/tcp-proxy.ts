/**
 * A TCP proxy a test controls, to take a real service (Postgres, Redis) away and bring it back:
 * - `down()`: stop listening and reset every connection (a stopped server: connections are refused);
 * - `blackhole()`: keep accepting, forward nothing, and leave every connection open (a network partition:
 *   nothing is refused, nothing answers; connections from before it stay dead even after `up()`);
 * - `up()`: listen and forward again.
 */
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  up(): Promise<void>;
  down(): Promise<void>;
  blackhole(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket | undefined;
  dead: boolean;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: 'up' | 'down' | 'blackhole' = 'up';
  let server: Server | undefined;
  let port = 0;

  const onConnection = (client: Socket): void => {
    const pair: Pair = { client, server: undefined, dead: mode !== 'up' };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pairs.delete(pair);
      pair.server?.destroy();
    });
    if (pair.dead) return;
    const upstream = connect(target);
    pair.server = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (d: Buffer) => {
      if (!pair.dead) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!pair.dead) client.write(d);
    });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer(onConnection);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });

  await listen();
  return {
    get port() {
      return port;
    },
    async up() {
      mode = 'up';
      if (!server) await listen();
    },
    async down() {
      mode = 'down';
      const closed = stopListening();
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.server?.destroy();
      }
      await closed;
    },
    async blackhole() {
      mode = 'blackhole';
      for (const p of pairs) p.dead = true;
      if (!server) await listen();
    },
    async close() {
      mode = 'down';
      const closed = stopListening();
      for (const p of pairs) {
        p.client.destroy();
        p.server?.destroy();
      }
      await closed;
    },
  };
}
