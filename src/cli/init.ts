import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT_OK, EXIT_USAGE } from './common.js';

const STARTER_CONFIG = `# tollgate.yaml: one file for the whole gateway. Check it with: tollgate check -c tollgate.yaml
# Values may come from the environment: \${NAME}, \${NAME:-default}, or from a file: \${file:/run/secrets/x}.
# Every key is documented in docs/config.md.

listen:
  host: 0.0.0.0          # where clients reach the gateway
  port: 8080
  # trustedProxies: [10.0.0.0/8]   # load balancers whose X-Forwarded-* headers are believed

admin:
  host: 127.0.0.1        # /healthz and /readyz; keep it on loopback
  port: 9080

# publicUrl: "\${TOLLGATE_PUBLIC_URL:-http://127.0.0.1:8080}"   # the URL clients use, for rewriting upstream links

upstreams:
  app:
    url: "\${UPSTREAM_URL:-http://127.0.0.1:3000}"
    timeouts: { connect: 5s, headers: 30s, body: 120s }
    # retry: { attempts: 1 }   # idempotent requests only; off by default

routes:
  # Routes are tried in order; the first match wins.
  - name: health
    match: { path: /healthz }
    respond: { status: 200, json: { ok: true } }

  - name: api
    match: { prefix: /api/ }      # also: path: /exact, pattern: /users/:id
    upstream: app
    stripPrefix: true              # /api/users -> /users upstream
    maxBodySize: 10MiB
    policies: []                   # credentials, caching, keys and limits go here

  - name: everything-else
    match: { prefix: / , methods: [GET, HEAD] }
    upstream: app
`;

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Write a commented starter config file.')
    .argument('[file]', 'where to write it', 'tollgate.yaml')
    .option('-f, --force', 'overwrite an existing file')
    .addHelpText(
      'after',
      `
Examples:
  $ tollgate init
  $ tollgate init gateway.yaml && tollgate check -c gateway.yaml`,
    )
    .action((file: string, opts: { force?: boolean }) => {
      if (existsSync(file) && !opts.force) {
        process.stderr.write(`error: ${file} exists; use --force to overwrite it\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      writeFileSync(file, STARTER_CONFIG);
      process.stdout.write(`wrote ${file}\nnext: tollgate check -c ${file} && tollgate start -c ${file}\n`);
      process.exitCode = EXIT_OK;
    });
}
