/**
 * The dashboard on the admin listener: the page at `/` (it loads without a token and asks for one), its
 * assets under /dashboard/ (uPlot from the installed package: no CDN), and GET /api/stats, the JSON it polls.
 * /api/stats is behind the admin token like the rest of /api/ (src/admin/http.ts); the page and its assets
 * are on that file's public list.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import type { MetricsSources } from '../metrics.js';
import { History } from './history.js';
import { planUsage } from './limits.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';

const require = createRequire(import.meta.url);

/**
 * `history`: the sampler the listener started with the gateway (src/admin/listener.ts), so the dashboard's hour
 * begins at start, not at the first admin request; without it one starts here and stops with the app.
 */
export async function registerDashboard(app: FastifyInstance, src: MetricsSources, history?: History): Promise<History> {
  const [uplotJs, uplotCss] = await Promise.all([readFile(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'), readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')]);
  if (!history) {
    const own = (history = new History(src));
    app.addHook('onClose', async () => own.close());
  }
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
  // Behind the admin token like every /api/ route (src/admin/http.ts).
  app.get('/api/stats', async (req, reply) => {
    const since = Number((req.query as Record<string, string | undefined>).since ?? 0);
    reply.header('cache-control', 'no-store');
    const stats = history.stats(Number.isFinite(since) ? since : 0);
    const svc = src.consumers?.();
    // Present only when the gateway has consumers (plans and limit counters to read).
    if (!svc) return stats;
    return { ...stats, planUsage: await planUsage(svc, stats.applications.map((a) => a.id), stats.now) };
  });
  return history;
}
