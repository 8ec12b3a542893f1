/**
 * The public API docs on the proxy listener (`docs.public`): a route of its own that answers from memory,
 * put ahead of the configured routes by src/config/compile.ts, like the 3scale API's.
 */
import type { Config } from '../config/schema.js';
import type { Exchange, Reply } from '../policies/types.js';
import { compilePhases } from '../proxy/pipeline.js';
import { compilePathMatcher } from '../proxy/router.js';
import type { CompiledRoute } from '../proxy/snapshot.js';
import type { OpenApiDocument } from './openapi.js';
import { DOCS_CSP, docsInit, docsPage, swaggerAssets } from './ui.js';

/** The paths the public docs answer at, for `path` (e.g. /docs). */
function docsPaths(path: string, assetNames: Iterable<string>): string[] {
  return [path, `${path}/openapi.json`, `${path}/assets/init.js`, ...[...assetNames].map((n) => `${path}/assets/${n}`)];
}

function reply(type: string, body: Buffer, cache: boolean): Reply {
  return {
    status: 200,
    headers: {
      'content-type': type,
      'content-length': String(body.length),
      'x-content-type-options': 'nosniff',
      'content-security-policy': DOCS_CSP,
      // The page and document change with the config; the packaged assets only with the package.
      'cache-control': cache ? 'public, max-age=86400' : 'no-cache',
    },
    body,
  };
}

/**
 * One route for the page, its document and assets: it matches exactly those paths, and its only hook
 * answers from memory (the 3scale API's routes work the same way).
 */
function docsRoute(base: string, answers: Map<string, Reply>): CompiledRoute {
  const match = { params: {}, prefixLength: 0, rest: '' };
  const hooks = {
    onRequest(ex: Exchange): Reply {
      let path = ex.path;
      try {
        path = decodeURIComponent(path);
      } catch {
        // Not decodable: looked up as sent.
      }
      // Always found: the route only matches these paths.
      return answers.get(path) ?? { status: 404, headers: { 'content-length': '0' }, body: null };
    },
  };
  return {
    name: 'docs',
    matchPath: (p) => (answers.has(p) ? { ...match, prefixLength: p.length } : undefined),
    matchHost: undefined,
    methods: new Set(['GET', 'HEAD']),
    upstream: undefined,
    // Never reached: the hook always answers.
    respond: { status: 500, headers: { 'content-length': '0' }, body: null },
    stripPrefix: false,
    rewrite: undefined,
    maxBodySize: 0,
    redirects: undefined,
    chain: [{ label: 'docs', priority: 0, hooks }],
    phases: compilePhases([{ label: 'docs', priority: 0, hooks }]),
    describe: `docs: path ${base}, ${base}/openapi.json and ${base}/assets/*, GET,HEAD -> API docs (docs.public)`,
  };
}

/** The docs route for a config with `docs.public`, answering `doc` (the consumer-facing document). */
export async function publicDocsRoutes(config: Config, doc: OpenApiDocument): Promise<CompiledRoute[]> {
  const base = config.docs.path;
  const answers = new Map<string, Reply>([
    [base, reply('text/html; charset=utf-8', Buffer.from(docsPage(base, `${doc.info.title} API docs`)), false)],
    [`${base}/openapi.json`, reply('application/json; charset=utf-8', Buffer.from(JSON.stringify(doc)), false)],
    [`${base}/assets/init.js`, reply('text/javascript; charset=utf-8', Buffer.from(docsInit(`${base}/openapi.json`)), false)],
  ]);
  for (const [name, a] of await swaggerAssets()) answers.set(`${base}/assets/${name}`, reply(a.type, a.body, true));
  return [docsRoute(base, answers)];
}

/**
 * Configured routes that match a public docs path: the docs answer first, so part of such a route could
 * never be reached. A catch-all `prefix: /` is the fall-through by design and is not reported.
 */
export async function routesShadowingDocs(config: Config): Promise<{ index: number; path: string }[]> {
  if (!config.docs.public) return [];
  const paths = docsPaths(config.docs.path, (await swaggerAssets()).keys());
  const out: { index: number; path: string }[] = [];
  config.routes.forEach((r, index) => {
    if (r.match.prefix === '/') return;
    const match = compilePathMatcher(r.match);
    const hit = paths.find((p) => match(p));
    if (hit) out.push({ index, path: hit });
  });
  return out;
}
