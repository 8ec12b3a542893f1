/**
 * The generated API docs: the OpenAPI 3.1 document built from a config (checked structurally and on concrete
 * routes of the examples), /openapi.json and Swagger UI at /docs on the admin listener with local assets,
 * the public docs on the proxy listener (docs.public) and the routes that would shadow them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminServer } from '../src/admin/server.js';
import { compileConfig } from '../src/config/compile.js';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { buildOpenApi, gatewayOperations } from '../src/docs/openapi.js';
import type { OpenApiDocument } from '../src/docs/openapi.js';
import { closeAll, startTestGateway } from './helpers/gateway.js';
import { echo, startUpstream } from './helpers/upstream.js';
import type { TestGateway } from './helpers/gateway.js';
import { checkOpenApi } from './helpers/openapi-check.js';

const log = pino({ level: 'silent' });

async function documentOf(yaml: string, env: NodeJS.ProcessEnv = {}, serverUrl = 'https://api.example.test'): Promise<OpenApiDocument> {
  const snap = await compileConfig(parseConfig(yaml, 'test.yaml', env), { log });
  try {
    return buildOpenApi(snap.api, { serverUrl, extra: gatewayOperations(snap.config) });
  } finally {
    await snap.retire(undefined);
  }
}

const example = (name: string) => readFileSync(new URL(`../examples/${name}`, import.meta.url), 'utf8');
type Op = { parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[]; responses: Record<string, Record<string, unknown>>; security: Record<string, string[]>[]; requestBody?: { content: Record<string, unknown> } };
const op = (doc: OpenApiDocument, path: string, method: string) => doc.paths[path]?.[method] as Op;

describe('the structural check', () => {
  it('finds what a broken document gets wrong', () => {
    const problems = checkOpenApi({
      openapi: '3.0.3',
      info: { title: 't', version: '1' },
      servers: [{ url: '/' }],
      paths: {
        '/users/{id}': { get: { responses: { 200: { $ref: '#/components/responses/Nope' } }, security: [{ ghost: [] }] } },
        '/x': { post: { responses: {} } },
      },
      components: {},
    });
    expect(problems.join('\n')).toMatch(/openapi: expected "3.1.0"/);
    expect(problems.join('\n')).toMatch(/GET \/users\/\{id\}: path parameter \{id\} is not declared/);
    expect(problems.join('\n')).toMatch(/\$ref #\/components\/responses\/Nope does not resolve/);
    expect(problems.join('\n')).toMatch(/security scheme ghost/);
    expect(problems.join('\n')).toMatch(/POST \/x: expected at least one response/);
  });
});

describe('the document of examples/keys.yaml', async () => {
  const doc = await documentOf(example('keys.yaml'), { UPSTREAM_URL: 'http://127.0.0.1:9' });

  it('is a valid OpenAPI 3.1 document whose server is publicUrl', () => {
    expect(checkOpenApi(doc)).toEqual([]);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers[0].url).toBe('https://api.example.test');
  });

  it('describes the private route: its key locations, rate-limit headers and 429', () => {
    const get = op(doc, '/private/{path}', 'get');
    expect(get.parameters).toContainEqual(expect.objectContaining({ name: 'path', in: 'path', required: true }));
    expect(get.security).toEqual([{ 'header.x-api-key': [] }, { 'query.api_key': [] }]);
    expect(doc.components.securitySchemes['header.x-api-key']).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-api-key' });
    expect(doc.components.securitySchemes['query.api_key']).toMatchObject({ type: 'apiKey', in: 'query', name: 'api_key' });
    expect(Object.keys(get.responses.default.headers as object)).toEqual(['RateLimit', 'RateLimit-Policy']);
    expect(get.responses['429']).toEqual({ $ref: '#/components/responses/RateLimited' });
    expect(get.responses['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
    expect(doc.components.responses.RateLimited).toMatchObject({ headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } }, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  });

  it('says the public route takes calls without credentials', () => {
    const get = op(doc, '/public/{path}', 'get');
    expect(get.security).toEqual([{}]);
    expect(get.responses['401']).toBeUndefined();
    expect(get.responses['429']).toBeDefined();
  });

  it("uses the catalogue's error shape", () => {
    const error = doc.components.schemas.Error as { required: string[]; properties: { code: { enum: string[] } } };
    expect(error.required).toEqual(['error', 'code']);
    expect(error.properties.code.enum).toEqual(expect.arrayContaining(['TG_RATE_LIMITED', 'TG_UNAUTHORIZED', 'TG_NOT_ACCEPTABLE']));
  });
});

describe('the document of examples/netmetr.yaml', async () => {
  const doc = await documentOf(example('netmetr.yaml'), { NETMETR_BACKEND: 'http://127.0.0.1:9', NETMETR_TOKEN: 'x' });

  it('is valid and lists exactly the two routes, GET and HEAD', () => {
    expect(checkOpenApi(doc)).toEqual([]);
    expect(Object.keys(doc.paths)).toEqual(['/opendata', '/approve']);
    expect(Object.keys(doc.paths['/opendata'])).toEqual(['get', 'head']);
  });

  it('has the query parameters the validate policy checks, with their types', () => {
    const get = op(doc, '/opendata', 'get');
    expect(get.parameters).toEqual([
      expect.objectContaining({ name: 'year', in: 'query', required: true, schema: { type: 'integer', minimum: 2000 } }),
      expect.objectContaining({ name: 'month', in: 'query', required: true, schema: { type: 'integer', minimum: 1, maximum: 12 } }),
    ]);
    expect(get.security).toEqual([]);
  });

  it('shows the answers the config writes itself: the invalid-date 400s and the mapped 403', () => {
    const get = op(doc, '/opendata', 'get');
    expect(get.responses['400']).toMatchObject({ content: { 'application/json': { example: { error: 'Invalid date.' } } } });
    expect(get.responses['403']).toMatchObject({ content: { 'application/json': { example: { error: '$1' } } } });
    expect(get.responses['502']).toEqual({ $ref: '#/components/responses/UpstreamError' });
  });
});

describe('every example', () => {
  const env = { DISCOGS_TOKEN: 't', UPSTREAM_URL: 'http://127.0.0.1:9', NETMETR_BACKEND: 'http://127.0.0.1:9', NETMETR_TOKEN: 'x', THREESCALE_SERVICE_TOKEN: 'st', DEMO_APP_KEY: 'ak', DEMO_USER_KEY: 'uk', OAUTH_CLIENT_ID: 'c', OAUTH_CLIENT_SECRET: 'cs', OAUTH_PUBLIC_CLIENT_ID: 'pc', DEMO_USER: 'u', DEMO_PASSWORD: 'p' };
  for (const name of readdirSync(new URL('../examples/', import.meta.url)).filter((f) => f.endsWith('.yaml'))) {
    it(`${name} gives a valid document`, async () => {
      const doc = await documentOf(example(name), env);
      expect(checkOpenApi(doc)).toEqual([]);
      expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    });
  }

  it('oauth2.yaml documents the token, revocation and introspection endpoints', async () => {
    const doc = await documentOf(example('oauth2.yaml'), env);
    expect(doc.paths['/oauth2/token/']).toHaveProperty('post');
    expect(doc.paths['/oauth2/revoke/']).toHaveProperty('post');
    expect(doc.paths['/oauth2/introspect/']).toHaveProperty('post');
    expect(op(doc, '/oauth2/token/', 'post').responses['401']).toBeDefined();
  });
});

describe('routes with negotiate, patterns, respond and 3scale', async () => {
  const doc = await documentOf(`
upstreams: { app: { url: "http://127.0.0.1:9" } }
threescale: { enabled: true, prefix: /3scale }
routes:
  - name: orders
    match: { pattern: "/users/:user/orders/:order", methods: [GET, PUT] }
    upstream: app
    policies: [negotiate, { auth: { appId: {}, jwt: { jwksUrl: "https://idp.example/jwks" } } }]
  - name: ping
    match: { path: /ping }
    respond: { json: { ok: true } }
`);

  it('is valid', () => expect(checkOpenApi(doc)).toEqual([]));

  it('turns :params into path parameters', () => {
    const get = op(doc, '/users/{user}/orders/{order}', 'get');
    expect(get.parameters.filter((p) => p.in === 'path').map((p) => p.name)).toEqual(['user', 'order']);
  });

  it('offers XML and refuses with 406/415 when negotiate is on', () => {
    const put = op(doc, '/users/{user}/orders/{order}', 'put');
    expect(Object.keys(put.responses.default.content as object)).toEqual(['application/json', 'application/xml']);
    expect(put.responses['406']).toEqual({ $ref: '#/components/responses/NotAcceptable' });
    expect(put.responses['415']).toEqual({ $ref: '#/components/responses/UnsupportedMediaType' });
    // A GET carries no body to refuse.
    expect(op(doc, '/users/{user}/orders/{order}', 'get').responses['415']).toBeUndefined();
    expect(Object.keys(put.requestBody!.content)).toEqual(['application/json', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data']);
  });

  it('names both app_id + app_key pairs and bearer JWTs', () => {
    const get = op(doc, '/users/{user}/orders/{order}', 'get');
    expect(get.security).toEqual([{ 'header.app-id': [], 'header.app-key': [] }, { 'query.app_id': [], 'query.app_key': [] }, { 'bearer.jwt': [] }]);
  });

  it("shows a respond route's answer, and the 3scale endpoints under their prefix", () => {
    expect(op(doc, '/ping', 'get').responses['200']).toMatchObject({ content: { 'application/json': { example: { ok: true } } } });
    expect(op(doc, '/3scale/transactions/authrep.xml', 'get').parameters.map((p) => p.name)).toContain('service_token');
    expect(op(doc, '/3scale/transactions.xml', 'post').responses['202']).toBeDefined();
  });
});

describe('served by the gateway', () => {
  let gw: TestGateway;
  afterAll(async () => {
    await gw?.close();
    await closeAll();
  });

  it('serves /openapi.json and Swagger UI at /docs on the admin listener, with local assets', async () => {
    const upstream = await startUpstream(echo);
    gw = await startTestGateway(`
upstreams: { app: { url: "${upstream.url}" }, echo: { url: "${upstream.url}" } }
docs: { public: true }
routes:
  - name: private
    match: { prefix: /private/ }
    upstream: app
    policies: [{ auth: { apiKey: { header: x-api-key } } }]
  - name: echo
    match: { pattern: /echo/:word }
    upstream: echo
`);
    const res = await fetch(`${gw.adminUrl}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApiDocument;
    expect(checkOpenApi(doc)).toEqual([]);
    // No publicUrl: the proxy listener's URL, so "Try it out" reaches the gateway.
    expect(doc.servers[0].url).toBe(gw.url);
    expect(doc.paths['/private/{path}']).toBeDefined();
    // The admin routes registered with a schema, answered by the admin listener itself.
    expect(doc.paths['/healthz']).toMatchObject({ servers: [{ url: '/' }], get: { responses: { 200: { description: 'The process is up.' } } } });
    expect(doc.paths['/readyz']?.get).toBeDefined();
    // Fastify's automatic HEAD routes are not listed twice.
    expect(doc.paths['/healthz'].head).toBeUndefined();

    const page = await fetch(`${gw.adminUrl}/docs`, { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets).toEqual(expect.arrayContaining(['/docs/assets/swagger-ui.css', '/docs/assets/swagger-ui-bundle.js', '/docs/assets/init.js']));
    for (const a of assets) {
      expect(a.startsWith('/'), `${a} is served locally`).toBe(true);
      const r = await fetch(gw.adminUrl + a);
      expect(r.status, a).toBe(200);
      expect((await r.arrayBuffer()).byteLength, a).toBeGreaterThan(0);
    }
    expect(await (await fetch(`${gw.adminUrl}/docs/assets/init.js`)).text()).toContain('"/openapi.json"');
    expect((await fetch(`${gw.adminUrl}/docs/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it("relays the admin page's Try-it-out calls to the proxy listener, bodies and all", async () => {
    const r = await fetch(`${gw.adminUrl}/docs/try/echo/hi%20there?x=1`, { method: 'POST', headers: { 'content-type': 'application/xml', 'x-test': 'yes' }, body: '<a>12345</a>' });
    expect(r.status).toBe(200);
    const got = (await r.json()) as { method: string; url: string; rawHeaders: string[]; bodyLength: number };
    expect(got).toMatchObject({ method: 'POST', url: '/echo/hi%20there?x=1', bodyLength: 12 });
    expect(got.rawHeaders).toEqual(expect.arrayContaining(['x-test', 'yes']));
    // The gateway's own answers come back as they are.
    const denied = await fetch(`${gw.adminUrl}/docs/try/private/x`);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ code: 'TG_UNAUTHORIZED' });
  });

  it('serves the consumer docs on the proxy listener at docs.path, without the admin routes', async () => {
    const page = await fetch(`${gw.url}/docs`, { redirect: 'manual' });
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const a of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])) expect((await fetch(gw.url + a)).status, a).toBe(200);
    const doc = (await (await fetch(`${gw.url}/docs/openapi.json`)).json()) as OpenApiDocument;
    expect(checkOpenApi(doc)).toEqual([]);
    expect(Object.keys(doc.paths)).toEqual(['/private/{path}', '/echo/{word}']);
    // Nothing about the upstreams behind the routes.
    expect(JSON.stringify(doc)).not.toMatch(/127\.0\.0\.1|"app"|`app`|`echo`/);
    // Same origin as the page: relative to where the document was loaded.
    expect(doc.servers[0].url).toBe('/');
    expect(await (await fetch(`${gw.url}/docs/assets/init.js`)).text()).toContain('"/docs/openapi.json"');
    const head = await fetch(`${gw.url}/docs`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await fetch(`${gw.url}/docs/assets/nope.js`)).status).toBe(404);
  });
});

describe('docs.public', () => {
  it('is off by default: /docs on the proxy listener is an ordinary path', async () => {
    const gw = await startTestGateway('routes: []');
    try {
      expect((await fetch(`${gw.url}/docs`)).status).toBe(404);
    } finally {
      await gw.close();
    }
  });

  it('uses publicUrl as the server when set', async () => {
    const doc = await documentOf('routes: [{ match: { path: /a }, respond: {} }]', {}, 'https://gw.example/');
    expect(doc.servers[0].url).toBe('https://gw.example/');
    const gw = await startTestGateway('publicUrl: https://gw.example/\ndocs: { public: true, path: /api-docs }\nroutes: [{ match: { path: /a }, respond: {} }]');
    try {
      const served = (await (await fetch(`${gw.url}/api-docs/openapi.json`)).json()) as OpenApiDocument;
      expect(served.servers[0].url).toBe('https://gw.example');
    } finally {
      await gw.close();
    }
  });

  it('refuses a route that would shadow the docs path, naming it', async () => {
    const yaml = `docs: { public: true, path: /docs }
routes:
  - { match: { prefix: / }, respond: {} }
  - name: fine
    match: { path: /documents }
    respond: {}
  - name: greedy
    match: { prefix: /docs }
    respond: {}
`;
    const err = await compileConfig(parseConfig(yaml, 'gw.yaml', {}), { log }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'gw.yaml', line: 8, path: ['routes', 2, 'match'] });
    expect(problems[0].message).toMatch(/matches \/docs, where the API docs are served/);
  });
});

describe('admin routes registered later with a schema (the admin API)', () => {
  it('are in /openapi.json with their parameters, shared schemas and the admin token', async () => {
    const snap = await compileConfig(parseConfig('routes: [{ match: { path: /a }, respond: {} }]', 'test.yaml', {}), { log });
    const app = await createAdminServer({ ready: () => true, info: () => ({}), docs: { snapshot: () => snap, proxyUrl: () => 'http://0.0.0.0:8080' } });
    try {
      // As a resource file would: a plugin with its own shared schema.
      await app.register(async (scope) => {
        scope.addSchema({ $id: 'key', type: 'object', required: ['id'], properties: { id: { type: 'string' }, application: { type: 'string' } } });
        scope.get('/api/keys/:id', { schema: { summary: 'One key', tags: ['keys'], params: { type: 'object', properties: { id: { type: 'string' } } }, querystring: { type: 'object', properties: { fields: { type: 'string' } } }, response: { 200: { $ref: 'key#' }, '4xx': { description: 'Errors.', type: 'object' } } } }, async () => ({ id: 'k1' }));
        scope.post('/api/keys', { schema: { body: { $ref: 'key#' }, response: { 201: { $ref: 'key#' } } } }, async () => ({ id: 'k2' }));
        scope.get('/internal', async () => 'not documented: no schema');
      });
      const res = await app.inject({ method: 'GET', url: '/openapi.json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json<OpenApiDocument>();
      expect(checkOpenApi(doc)).toEqual([]);
      // No publicUrl and a wildcard listener: the loopback address a browser can reach.
      expect(doc.servers[0].url).toBe('http://127.0.0.1:8080');
      const get = doc.paths['/api/keys/{id}'] as { servers: unknown; get: Op & { summary: string } };
      expect(get.servers).toEqual([{ url: '/', description: 'The admin listener' }]);
      expect(get.get.summary).toBe('One key');
      expect(get.get.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(['path:id', 'query:fields']);
      expect(get.get.security).toEqual([{ adminToken: [] }]);
      expect(get.get.responses['200']).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/key' } } } });
      expect(get.get.responses['4XX']).toMatchObject({ description: 'Errors.' });
      expect(doc.components.schemas.key).toMatchObject({ type: 'object', required: ['id'] });
      expect(doc.components.securitySchemes.adminToken).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(op(doc, '/api/keys', 'post').requestBody).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/key' } } } });
      expect(doc.paths['/internal']).toBeUndefined();
      // Health answers without the token.
      expect(op(doc, '/healthz', 'get').security).toEqual([]);
    } finally {
      await app.close();
      await snap.retire(undefined);
    }
  });
});
