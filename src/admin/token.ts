/**
 * The admin token: the config's `admin.token` (`${file:…}` and `${VAR}` work there), else env
 * TOLLGATE_ADMIN_TOKEN, so any existing config gets a protected admin API by setting that variable.
 * Without one the admin API is open, which is only allowed on a loopback address.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** The token to require ('' = none); a config error when the admin listener is not on loopback and has none. */
export function adminToken(loaded: LoadedConfig, env: NodeJS.ProcessEnv): string {
  const { admin } = loaded.config;
  const token = admin.token || env.TOLLGATE_ADMIN_TOKEN || '';
  if (admin.enabled && token === '' && !isLoopback(admin.host)) {
    throw new ConfigError([
      {
        file: loaded.source.file,
        line: loaded.source.lineOf(['admin', 'host']),
        path: ['admin', 'host'],
        message: `the admin listener on ${admin.host} (not loopback) needs a token: set admin.token (e.g. "\${file:/run/secrets/admin-token}") or TOLLGATE_ADMIN_TOKEN, or bind it to 127.0.0.1`,
      },
    ]);
  }
  return token;
}
