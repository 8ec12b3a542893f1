import type { Command } from 'commander';
import { loggerFrom, portFlag, reportError } from './common.js';
import { serveUntilSignal } from './start.js';

const DEMO_KEY = 'demo-key-0123456789';

function demoConfig(upstreamUrl: string): string {
  return `# The demo: a built-in upstream behind Tollgate, with a cached route and a keyed, limited one.
store: "sqlite::memory:"            # nothing is written to disk
upstreams:
  demo:
    url: "${upstreamUrl}"
plans:
  demo: { limits: { hits: [{ per: minute, max: 5 }] } }
applications:
  - { id: demo-app, plan: demo, keys: ["${DEMO_KEY}"] }
routes:
  - name: health
    match: { path: /healthz }
    respond: { status: 200, json: { ok: true } }
  - name: demo-cached
    match: { prefix: /cached/ }
    upstream: demo
    stripPrefix: true
    policies: [{ cache: { ttl: 30s } }]
  - name: demo-private
    match: { prefix: /private/ }
    upstream: demo
    stripPrefix: true
    policies: [{ auth: { apiKey: { header: x-api-key } } }, rate-limit, usage]
  - name: demo-api
    match: { prefix: /api/ }
    upstream: demo
    stripPrefix: true
`;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Start the gateway in front of a small built-in upstream, and print curl lines to try.')
    .option('-p, --port <port>', 'proxy port (0 picks a free port)', portFlag('--port'), 8080)
    .option('--admin-port <port>', 'admin port (0 picks a free port)', portFlag('--admin-port'), 9080)
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent', 'info')
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate demo
  $ tollgate demo --port 0 --admin-port 0`,
    )
    .action(async (opts: { port: number; adminPort: number; logLevel: string }) => {
      try {
        const handle = loggerFrom({ logLevel: opts.logLevel });
        const [{ startDemoUpstream }, { startGateway }] = await Promise.all([import('../demo/upstream.js'), import('../gateway.js')]);
        const upstream = await startDemoUpstream();
        const text = demoConfig(upstream.url);
        const start = (port: number, adminPort: number) =>
          startGateway({ configText: { text, name: '(demo config)' }, log: handle.log, overrides: { host: '127.0.0.1', port, adminPort } });
        let gw;
        try {
          gw = await start(opts.port, opts.adminPort);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
          process.stderr.write(`port ${opts.port} or ${opts.adminPort} is taken; picking free ports\n`);
          gw = await start(0, 0);
        }
        const u = gw.url;
        // Handlers first: a script that signals as soon as it reads the line must not hit the default action.
        serveUntilSignal(gw, handle, undefined, {}, async () => {
          await new Promise<void>((r) => upstream.server.close(() => r()));
        });
        process.stdout.write(
          [
            `listening on ${u}`,
            gw.adminUrl ? `admin listening on ${gw.adminUrl}` : '',
            `demo upstream on ${upstream.url}`,
            '',
            'Try:',
            `  curl -i ${u}/api/hello`,
            `  curl -s '${u}/api/items?page=2&page_size=5'`,
            `  curl -s ${u}/api/echo -d 'name=tollgate'        # see the forwarded headers`,
            `  curl -si ${u}/cached/hello | grep -i x-cache     # MISS, then HIT for 30 s`,
            `  curl -i ${u}/private/hello                      # 401: no key`,
            `  curl -i -H 'x-api-key: ${DEMO_KEY}' ${u}/private/hello   # 200 five times a minute, then 429`,
            `  curl -i ${u}/nowhere                            # 404 with a JSON error`,
            `  curl -i ${u}/healthz`,
            gw.adminUrl ? `  curl -s ${gw.adminUrl}/readyz` : '',
            '',
            'Ctrl-C stops it.',
            '',
          ]
            .filter((l, i, a) => l !== '' || a[i - 1] !== '')
            .join('\n'),
        );
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
