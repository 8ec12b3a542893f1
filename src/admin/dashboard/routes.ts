/**
 * The dashboard on the admin listener: the page at `/` (it loads without a token and asks for one), its
 * assets under /dashboard/ (uPlot from the installed package: no CDN), and GET /api/stats, the JSON it polls.
 * /api/stats needs `Authorization: Bearer <admin token>` (the config's admin.token, else env
 * TOLLGATE_ADMIN_TOKEN), compared in constant time; with no token configured the admin listener is open,
 * as the rest of it (it binds to loopback by default).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from '../../errors.js';
import type { MetricsSources } from '../metrics.js';
import { History } from './history.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';

const require = createRequire(import.meta.url);

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when the request carries the admin token (or none is configured). Hashing first makes lengths equal. */
export function hasAdminToken(req: FastifyRequest, token: string): boolean {
  if (!token) return true;
  const h = req.headers.authorization ?? '';
  const m = /^Bearer[ ]+(.+)$/i.exec(h);
  if (!m) return false;
  return timingSafeEqual(digest(m[1].trim()), digest(token));
}

function refuse(reply: FastifyReply): string {
  reply.code(401).header('www-authenticate', 'Bearer realm="tollgate-admin"').header('content-type', 'application/json; charset=utf-8');
  return errorBody('TG_UNAUTHORIZED', 'This admin endpoint needs Authorization: Bearer <admin token>.', '');
}

export async function registerDashboard(app: FastifyInstance, src: MetricsSources, adminToken: () => string): Promise<History> {
  const [uplotJs, uplotCss] = await Promise.all([readFile(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'), readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')]);
  const history = new History(src);
  app.addHook('onClose', async () => history.close());
  const asset = (path: string, type: string, body: string) =>
    app.get(path, async (_req, reply) => {
      reply.header('content-type', type).header('cache-control', 'no-cache');
      return body;
    });
  asset('/', 'text/html; charset=utf-8', PAGE_HTML);
  asset('/dashboard/app.js', 'text/javascript; charset=utf-8', PAGE_JS);
  asset('/dashboard/app.css', 'text/css; charset=utf-8', PAGE_CSS);
  asset('/dashboard/uPlot.iife.min.js', 'text/javascript; charset=utf-8', uplotJs);
  asset('/dashboard/uPlot.min.css', 'text/css; charset=utf-8', uplotCss);
  app.get('/api/stats', async (req, reply) => {
    if (!hasAdminToken(req, adminToken())) return refuse(reply);
    const since = Number((req.query as Record<string, string | undefined>).since ?? 0);
    reply.header('cache-control', 'no-store');
    return history.stats(Number.isFinite(since) ? since : 0);
  });
  return history;
}
