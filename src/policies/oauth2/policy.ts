/**
 * The OAuth2 authorization server's endpoints, each a route of its own that src/config/compile.ts prepends
 * when the config has `oauth2`: the token endpoint (RFC 6749 §3.2; grants password, refresh_token and
 * client_credentials, run by @node-oauth/oauth2-server over the model in model.ts), revocation (RFC 7009)
 * and introspection (RFC 7662). The chain's only policy answers every request itself with a Reply.
 *
 * These endpoints deliberately answer in their protocol's JSON shapes (RFC 6749 §5.1/§5.2), not the
 * gateway's error catalogue: OAuth2 client libraries parse `error` and `error_description`. Every answer,
 * errors included, is application/json with `Cache-Control: no-store`.
 */
import type OAuth2ServerModule from '@node-oauth/oauth2-server';
import type { ConsumerDirectory } from '../../consumers/directory.js';
import type { LimiterStore } from '../../consumers/limiter.js';
import { GatewayError } from '../../errors.js';
import type { CredentialMatch } from '../../store/types.js';
import type { OAuthServerStore } from '../../consumers/services.js';
import { withoutConsumers } from '../consumers.js';
import { definePolicy } from '../types.js';
import type { Exchange, PolicyHooks, Reply } from '../types.js';
import { createModel, modelClient } from './model.js';
import type { IssuedToken } from './model.js';
import { oauth2EndpointSchema } from './schema.js';
import type { OAuth2EndpointOptions } from './schema.js';

/** Token requests are a few hundred bytes; anything much larger is not one. */
const MAX_BODY = 64 * 1024;
const GRANTS = new Set(['password', 'refresh_token', 'client_credentials']);
/** How often an instance deletes the tokens that can no longer be used (at most; only while issuing tokens). */
const PRUNE_EVERY_MS = 3_600_000;

/** An RFC 6749 §5.2 error: thrown inside the handlers, turned into a Reply at the end. */
class OAuthFailure extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  const buf = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'content-length': String(buf.length),
      // RFC 6749 §5.1: token answers must not be cached.
      'cache-control': 'no-store',
      pragma: 'no-cache',
      ...headers,
    },
    body: buf,
  };
}

/** Loopback clients may use plain HTTP (a developer's machine, a sidecar); everyone else needs TLS. */
export function isLoopback(ip: string): boolean {
  const a = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return a === '::1' || a.startsWith('127.');
}

export function insecure(ex: Exchange): boolean {
  return ex.clientProto !== 'https' && !isLoopback(ex.clientIp);
}

async function readBody(body: Exchange['body']): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new OAuthFailure('invalid_request', 'The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Form (the standard, RFC 6749 §3.2) or JSON bodies; a parameter given twice is refused (RFC 6749 §3.1). */
export function parseParams(contentType: string | undefined, body: Buffer): Map<string, string> {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const out = new Map<string, string>();
  if (type === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
      if (out.has(k)) throw new OAuthFailure('invalid_request', `The parameter ${k} is given more than once.`);
      out.set(k, v);
    }
    return out;
  }
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new OAuthFailure('invalid_request', 'The body is not valid JSON.');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new OAuthFailure('invalid_request', 'The JSON body must be an object.');
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v === 'string') out.set(k, v);
      else if (typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
      else if (v !== null) throw new OAuthFailure('invalid_request', `The parameter ${k} must be a string.`);
    }
    return out;
  }
  throw new OAuthFailure('invalid_request', 'The body must be application/x-www-form-urlencoded (or application/json).');
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined and base64-encoded. */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new OAuthFailure('invalid_request', 'The Basic credentials are not form-urlencoded.');
  }
}

export interface PresentedClient {
  clientId: string;
  clientSecret?: string;
  viaBasic: boolean;
}

/** The client's credentials from HTTP Basic or the body; using both methods is refused (RFC 6749 §2.3). */
export function presentedClient(authorization: string | string[] | undefined, params: Map<string, string>): PresentedClient | undefined {
  if (Array.isArray(authorization)) throw new OAuthFailure('invalid_request', 'More than one Authorization header.');
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (authorization) {
    const sp = authorization.indexOf(' ');
    const scheme = (sp === -1 ? authorization : authorization.slice(0, sp)).toLowerCase();
    if (scheme === 'basic') {
      const decoded = Buffer.from(authorization.slice(sp + 1).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) throw new OAuthFailure('invalid_request', 'The Basic credentials have no colon.');
      const clientId = formDecode(decoded.slice(0, colon));
      const clientSecret = formDecode(decoded.slice(colon + 1));
      if (bodySecret !== undefined) throw new OAuthFailure('invalid_request', 'Authenticate the client in one way only: Basic or body parameters.');
      if (bodyId !== undefined && bodyId !== clientId) throw new OAuthFailure('invalid_request', 'client_id does not match the Basic credentials.');
      return { clientId, clientSecret: clientSecret || undefined, viaBasic: true };
    }
  }
  if (bodyId === undefined) return undefined;
  return { clientId: bodyId, clientSecret: bodySecret || undefined, viaBasic: false };
}

// Loaded when a config serves OAuth2 endpoints (loadOAuth2Server, from create()): other configs never pay for it.
let OAuth2Server: typeof OAuth2ServerModule | undefined;

async function loadOAuth2Server(): Promise<typeof OAuth2ServerModule> {
  OAuth2Server ??= (await import('@node-oauth/oauth2-server')).default;
  return OAuth2Server;
}

function compileOAuth2Endpoint(opts: OAuth2EndpointOptions, store: OAuthServerStore, directory: ConsumerDirectory, limiter?: LimiterStore): PolicyHooks {
  const challenge = `Basic realm="${opts.realm.replace(/["\\]/g, '\\$&')}", charset="UTF-8"`;
  const invalidClient = () => new OAuthFailure('invalid_client', 'Client authentication failed.', 401, { 'www-authenticate': challenge });
  const lifetimes = { accessMs: opts.accessTokenLifetimeMs, refreshMs: opts.refreshTokenLifetimeMs };
  let lastPrune = 0;
  function pruneNow(ex: Exchange): void {
    const now = Date.now();
    if (now - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = now;
    store.pruneOAuthTokens(new Date(now)).catch((err: unknown) => ex.log.warn({ err: (err as Error).message }, 'pruning unusable OAuth2 tokens failed'));
  }
  /** IPs over the failed-attempt limit, until their window ends (as the auth policy does for keys). */
  const blocked = new Map<string, number>();

  function recordFailure(ip: string): void {
    if (!limiter) return;
    const now = Date.now();
    const start = Math.floor(now / opts.failedWindowMs) * opts.failedWindowMs;
    const over = (r: { count: number }) => {
      if (r.count >= opts.failedMax) blocked.set(ip, start + opts.failedWindowMs);
    };
    try {
      const r = limiter.consume(`oauth2fail:${start}:${ip}`, 1, Math.ceil(opts.failedWindowMs / 1000));
      // The limiter store being down must not turn a 401 into a 500.
      if (r instanceof Promise) r.then(over, () => undefined);
      else over(r);
    } catch {
      // idem
    }
  }

  async function authenticate(ex: Exchange, params: Map<string, string>): Promise<CredentialMatch> {
    const presented = presentedClient(ex.headers['authorization'], params);
    if (!presented) throw invalidClient();
    const m = await store.findCredential({ kind: 'oauth2_client', clientId: presented.clientId, clientSecret: presented.clientSecret });
    // A confidential client must prove itself; a public one has nothing to prove with.
    if (!m || m.credential.kind !== 'oauth2_client') throw invalidClient();
    if (m.state !== 'active') throw new OAuthFailure('unauthorized_client', "The client's application is suspended.");
    return m;
  }

  async function token(ex: Exchange, params: Map<string, string>): Promise<Reply> {
    const grant = params.get('grant_type');
    if (!grant) throw new OAuthFailure('invalid_request', 'Missing parameter: grant_type.');
    const m = await authenticate(ex, params);
    if (!GRANTS.has(grant)) throw new OAuthFailure('unsupported_grant_type', `The grant type ${grant.slice(0, 64)} is not supported.`);
    const client = modelClient(m.credential, lifetimes);
    if (!OAuth2Server) throw new Error('oauth2-endpoint: compiled before @node-oauth/oauth2-server was loaded');
    const server = new OAuth2Server({
      model: createModel(store, client),
      accessTokenLifetime: client.accessTokenLifetime,
      refreshTokenLifetime: client.refreshTokenLifetime,
      // The client is authenticated above (Basic decoded per RFC 6749 §2.3.1); the library gets only its id.
      requireClientAuthentication: { password: false, refresh_token: false, client_credentials: false },
      alwaysIssueNewRefreshToken: true,
    });
    const body: Record<string, string> = Object.fromEntries(params);
    delete body.client_secret;
    body.client_id = client.id;
    const request = new OAuth2Server.Request({
      method: 'POST',
      query: {},
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '1' },
      body,
    });
    let issued: IssuedToken;
    try {
      issued = (await server.token(request, new OAuth2Server.Response())) as unknown as IssuedToken;
    } catch (e) {
      if (e instanceof OAuth2Server.OAuthError && !(e instanceof OAuth2Server.ServerError)) {
        if (e.name === 'invalid_client') throw invalidClient();
        throw new OAuthFailure(e.name, e.message, e.code >= 400 && e.code < 500 ? e.code : 400);
      }
      const cause = e instanceof OAuth2Server.ServerError ? ((e as { inner?: unknown }).inner ?? e) : e;
      throw cause;
    }
    // The previous token of this client and user is revoked in the store: make this instance see it now.
    await directory.refresh();
    pruneNow(ex);
    const out: Record<string, unknown> = {
      access_token: issued.accessToken,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.round((issued.accessTokenExpiresAt.getTime() - Date.now()) / 1000)),
    };
    if (issued.refreshToken) out.refresh_token = issued.refreshToken;
    out.scope = issued.scope.join(' ');
    return jsonReply(200, out);
  }

  async function revoke(ex: Exchange, params: Map<string, string>): Promise<Reply> {
    const m = await authenticate(ex, params);
    const value = params.get('token');
    if (!value) throw new OAuthFailure('invalid_request', 'Missing parameter: token.');
    const result = await store.revokeOAuthToken(value, m.credential.id);
    // RFC 7009 §2.2: an unknown or already invalid token is not an error.
    if (result === 'other_client') throw new OAuthFailure('unauthorized_client', 'This token was issued to another client.');
    if (result === 'revoked') await directory.refresh();
    return jsonReply(200, {});
  }

  async function introspect(ex: Exchange, params: Map<string, string>): Promise<Reply> {
    const m = await authenticate(ex, params);
    // RFC 7662 §2.1: the caller must be authorized; a public client proves nothing.
    if (m.credential.clientType !== 'confidential') throw invalidClient();
    const value = params.get('token');
    if (!value) throw new OAuthFailure('invalid_request', 'Missing parameter: token.');
    const hint = params.get('token_type_hint');
    const order: Array<'access' | 'refresh'> = hint === 'refresh_token' ? ['refresh', 'access'] : ['access', 'refresh'];
    for (const kind of order) {
      const t = await store.findOAuthToken(value, kind);
      if (!t) continue;
      const exp = kind === 'access' ? t.token.accessExpiresAt : t.token.refreshExpiresAt;
      return jsonReply(200, {
        active: true,
        scope: t.token.scopes.join(' '),
        client_id: t.token.clientId,
        ...(t.username !== null ? { username: t.username } : {}),
        token_type: kind === 'access' ? 'Bearer' : 'refresh_token',
        ...(exp ? { exp: Math.floor(exp.getTime() / 1000) } : {}),
        iat: Math.floor(t.token.createdAt.getTime() / 1000),
        sub: t.token.userId ?? t.token.clientId,
        application: t.application.id,
      });
    }
    return jsonReply(200, { active: false });
  }

  const handlers = { token, revoke, introspect } as const;
  const handler = handlers[opts.endpoint];

  return {
    async onRequest(ex) {
      try {
        if (ex.method !== 'POST') {
          // RFC 6749 §3.2: the token endpoint takes POST only (and so do the other two).
          return jsonReply(405, { error: 'invalid_request', error_description: 'Use POST.' }, { allow: 'POST' });
        }
        if (opts.requireHttps && insecure(ex)) throw new OAuthFailure('invalid_request', 'HTTPS is required (RFC 6749 §3.2).');
        const until = blocked.get(ex.clientIp);
        if (until !== undefined) {
          const left = until - Date.now();
          if (left > 0) throw new OAuthFailure('invalid_request', 'Too many failed attempts; try again later.', 429, { 'retry-after': String(Math.ceil(left / 1000)) });
          blocked.delete(ex.clientIp);
        }
        const params = parseParams(ex.headers['content-type'] as string | undefined, await readBody(ex.body));
        return await handler(ex, params);
      } catch (e) {
        if (e instanceof OAuthFailure) {
          // A wrong client secret or a wrong password: brute force is slowed per client IP.
          if (e.error === 'invalid_client' || (e.error === 'invalid_grant' && opts.endpoint === 'token')) recordFailure(ex.clientIp);
          return jsonReply(e.status, { error: e.error, error_description: e.description }, e.headers);
        }
        const unavailable = e instanceof GatewayError && e.status === 503;
        ex.log.error({ err: e }, `OAuth2 ${opts.endpoint} endpoint failed`);
        return jsonReply(unavailable ? 503 : 500, {
          error: unavailable ? 'temporarily_unavailable' : 'server_error',
          error_description: unavailable ? 'The store cannot be reached right now.' : 'Internal error.',
        });
      }
    },
  };
}

export const oauth2EndpointPolicy = definePolicy({
  name: 'oauth2-endpoint',
  description: 'Serves one OAuth2 endpoint (token, revoke or introspect); compiled from the top-level `oauth2` block, not written in routes.',
  priority: 1100,
  schema: oauth2EndpointSchema,
  create(opts, deps) {
    const svc = deps.services.consumers;
    if (!svc?.oauth) return withoutConsumers('oauth2-endpoint');
    const oauth = svc.oauth;
    return loadOAuth2Server().then(() => compileOAuth2Endpoint(opts, oauth, svc.directory, svc.limiter));
  },
});
