/**
 * Swagger UI from the packaged swagger-ui-dist (no CDN): the page, its start script and the two assets it
 * needs, read once (asynchronously) and kept in memory, for both the admin and the proxy listener.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface DocsAsset {
  type: string;
  body: Buffer;
}

/** The swagger-ui-dist files the page loads, by the name they are served under. */
const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

let loading: Promise<Map<string, DocsAsset>> | undefined;

/** The packaged assets, read from disk once per process. */
export function swaggerAssets(): Promise<Map<string, DocsAsset>> {
  loading ??= (async () => {
    const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    const out = new Map<string, DocsAsset>();
    for (const [name, type] of Object.entries(FILES)) out.set(name, { type, body: await readFile(join(dir, name)) });
    return out;
  })();
  loading.catch(() => (loading = undefined));
  return loading;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page at `base` (e.g. /docs): its assets are under `base`/assets/, the document at `specUrl`. */
export function docsPage(base: string, title: string): string {
  const a = `${escapeHtml(base)}/assets`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" type="image/png" href="${a}/favicon-32x32.png">
<link rel="stylesheet" href="${a}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${a}/swagger-ui-bundle.js"></script>
<script src="${a}/init.js"></script>
</body>
</html>
`;
}

/** The start script (a file rather than inline, so a strict Content-Security-Policy can allow 'self' only). */
export function docsInit(specUrl: string, relay?: string): string {
  // With a relay (the admin listener's page): calls to the document's first server, the gateway on another
  // origin, go through the relay on this origin, since the gateway sends no CORS headers.
  const intercept = relay
    ? `,
  requestInterceptor: (req) => {
    // The document's own fetch runs before window.ui is set.
    const servers = window.ui && window.ui.specSelectors.specJson().get('servers');
    const gateway = servers && servers.size ? String(servers.get(0).get('url')).replace(/\\/+$/, '') : '';
    if (gateway && new URL(gateway, location.href).origin !== location.origin && req.url.startsWith(gateway)) req.url = location.origin + ${JSON.stringify(relay)} + req.url.slice(gateway.length);
    return req;
  }`
    : '';
  return `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(specUrl)},
  dom_id: '#swagger-ui',
  deepLinking: true,
  displayRequestDuration: true${intercept}
});
`;
}

/** Security headers for the docs answers: the page needs nothing from other origins. */
export const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src *";
