/**
 * The admin listener, bound at start but built on its first request. Fastify, prom-client, the admin API with
 * its OpenAPI document and the dashboard cost about 35 MiB of heap and 0.2 s of start-up; a gateway nobody
 * administers (most of the time, most instances) should not pay for them. The socket is bound at start, so
 * `admin listening on …` is true and a port conflict fails the start as before; the first request (a health
 * probe, the CLI, a browser) waits for the app to build (about 0.2 s) and every later one goes straight to it.
 * A request body that arrives meanwhile stays buffered in the paused request stream.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { History } from './dashboard/history.js';
import type { AdminDeps } from './server.js';

export interface AdminListener {
  /** http://HOST:PORT as the admin listener is reachable (IPv6 in brackets), as fastify's listen() answers. */
  readonly url: string;
  /** Whether the admin app has been built (a request has arrived). */
  readonly built: boolean;
  close(): Promise<void>;
}

type Handle = (req: IncomingMessage, res: ServerResponse) => void;

export async function listenAdmin(deps: AdminDeps, host: string, port: number): Promise<AdminListener> {
  const server = createServer();
  let handle: Handle | undefined;
  let building: Promise<Handle> | undefined;
  let app: FastifyInstance | undefined;
  let closed = false;
  // The dashboard's last hour is sampled from start (cheap: a 1 s timer reading counters), not from the first visit.
  const history = deps.metrics && new History(deps.metrics);

  const build = async (): Promise<Handle> => {
    const { createAdminServer } = await import('./server.js');
    let handler: Handle | undefined;
    app = await createAdminServer(
      deps,
      (h) => {
        handler = h;
        return server;
      },
      history,
    );
    await app.ready();
    if (!handler) throw new Error('fastify did not hand over its request handler');
    return (handle = handler);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (handle) return handle(req, res);
    (building ??= build()).then(
      (h) => h(req, res),
      (err: unknown) => {
        // A failed build is retried by the next request; this one gets the catalogue's shape.
        building = undefined;
        process.emitWarning(`admin listener: building the admin app failed: ${(err as Error).message}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: 'The admin server could not start; see the gateway log.', code: 'TG_INTERNAL' }));
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;

  return {
    url,
    get built() {
      return handle !== undefined;
    },
    async close() {
      if (closed) return;
      closed = true;
      history?.close();
      if (building) await building.catch(() => undefined);
      await closeServer(server, app);
    },
  };
}

async function closeServer(server: Server, app: FastifyInstance | undefined): Promise<void> {
  const done = new Promise<void>((resolve) => server.close(() => resolve()));
  // Idle keep-alive connections would hold close() open (fastify's own close does the same).
  server.closeIdleConnections();
  if (app) await app.close();
  await done;
}
