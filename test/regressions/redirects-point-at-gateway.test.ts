/**
 * An upstream's Location / Content-Location that point at the upstream itself reach the client pointing at the
 * gateway (publicUrl, or a relative reference when none is set) with the stripped prefix put back, as nginx's
 * proxy_redirect default does; never the internal address. A route option turns it off; a route's rewrite-urls
 * policy keeps precedence over the headers it rewrites.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import type { Answer } from '../helpers/upstream.js';

afterEach(closeAll);

/** Redirects to `/login?next=…` on its own address, and names a document on it in Content-Location. */
const redirecting = (base: () => string): Answer => (req, res) => {
  const target = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
  res.writeHead(302, { location: target ?? `${base()}/login?next=/x`, 'content-location': `${base()}/doc/1`, 'content-length': '0' });
  res.end();
};

async function gateway(route: string, top = '', basePath = '') {
  let url = '';
  const up = await startUpstream(redirecting(() => url));
  url = up.url + basePath;
  const gw = await startTestGateway(`${top}\nupstreams: { app: { url: "${url}" } }\nroutes:\n  - upstream: app\n${route.replace(/^/gm, '    ')}\n`);
  return { up, gw, upstreamUrl: url };
}

describe('redirects from the upstream', () => {
  it('on a stripPrefix route, without publicUrl: a relative reference with the prefix put back', async () => {
    const { gw, upstreamUrl } = await gateway('match: { prefix: /api/ }\nstripPrefix: true');
    const r = await send(gw.url, { path: '/api/x' });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/api/login?next=/x');
    expect(r.headers['content-location']).toBe('/api/doc/1');
    expect(JSON.stringify(r.headers)).not.toContain(upstreamUrl);
  });

  it('with publicUrl: the public URL and the prefix', async () => {
    const { gw } = await gateway('match: { prefix: /api }\nstripPrefix: true', 'publicUrl: "https://gw.example/"');
    const r = await send(gw.url, { path: '/api/x' });
    expect(r.headers.location).toBe('https://gw.example/api/login?next=/x');
    expect(r.headers['content-location']).toBe('https://gw.example/api/doc/1');
  });

  it('an upstream URL with a path: that path is replaced, the client path kept', async () => {
    const { gw } = await gateway('match: { prefix: /api/ }', 'publicUrl: "https://gw.example"', '/v1');
    const r = await send(gw.url, { path: '/api/x' });
    expect(r.headers.location).toBe('https://gw.example/login?next=/x');
  });

  it('other hosts, relative references and look-alike ports pass unchanged', async () => {
    const { gw, up } = await gateway('match: { prefix: / }');
    for (const to of ['https://other.example/x', '/relative?a=1', `${up.url}0/x`, `http://127.0.0.1:${up.port}.evil.example/x`]) {
      const r = await send(gw.url, { path: `/r?to=${encodeURIComponent(to)}` });
      expect(r.headers.location).toBe(to);
    }
    const own = await send(gw.url, { path: `/r?to=${encodeURIComponent(`${up.url.toUpperCase()}?q=1`)}` });
    expect(own.headers.location).toBe('/?q=1');
  });

  it('rewriteRedirects: false leaves them as the upstream sent them', async () => {
    const { gw, upstreamUrl } = await gateway('match: { prefix: /api/ }\nstripPrefix: true\nrewriteRedirects: false');
    const r = await send(gw.url, { path: '/api/x' });
    expect(r.headers.location).toBe(`${upstreamUrl}/login?next=/x`);
  });

  it("a route's rewrite-urls policy rewrites Location itself, once; Content-Location it leaves to the built-in", async () => {
    const { gw } = await gateway('match: { prefix: /api/ }\nstripPrefix: true\npolicies: [{ rewrite-urls: { to: "https://cdn.example", headers: [location] } }]', 'publicUrl: "https://gw.example"');
    const r = await send(gw.url, { path: '/api/x' });
    expect(r.headers.location).toBe('https://cdn.example/login?next=/x');
    expect(r.headers['content-location']).toBe('https://gw.example/api/doc/1');
  });
});
