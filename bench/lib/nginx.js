// nginx as the reference proxy: one worker (`workers` for more), keep-alive to the upstream, everything in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startProcess, waitForPort, workDir } from './procs.js';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

export function nginxAvailable() {
  return fs.existsSync(NGINX_BIN);
}

function config({ port, upstream, dir, extraHttp = '', extraLocation = '', workers = 1 }) {
  const u = new URL(upstream);
  const temp = (name) => path.join(dir, name);
  // Run as whoever runs the bench; `user` is only honoured (and only needed) when that is root.
  const user = process.getuid?.() === 0 ? `user ${os.userInfo().username};` : '';
  return `${user}
worker_processes ${workers};
daemon off;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  upstream app {
    server ${u.hostname}:${u.port};
    keepalive 64;
  }
  ${extraHttp}
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${extraLocation}
    }
  }
}
`;
}

/** Starts nginx on a free port; `extraHttp`/`extraLocation` let a scenario add proxy_cache etc. */
export async function startNginx(name, upstream, extra = {}) {
  const dir = fs.mkdtempSync(path.join(workDir, `${name.replace(/\W+/g, '-')}-`));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, config({ port, upstream, dir, ...extra }));
  // -p: prefix, so nginx never touches /var/log/nginx or /var/lib/nginx.
  const proc = startProcess(name, [NGINX_BIN, '-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], { pin: extra.pin ?? true });
  await waitForPort(proc, port);
  return { proc, url: `http://127.0.0.1:${port}` };
}
