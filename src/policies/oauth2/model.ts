/**
 * The storage adapter ("model") @node-oauth/oauth2-server calls for the password, refresh_token and
 * client_credentials grants. One model per token request: the client was authenticated before the library
 * runs (see policy.ts), so `getClient` only hands that client over.
 */
import type OAuth2Server from '@node-oauth/oauth2-server';
import { generateSecret } from '../../store/secrets.js';
import type { Credential } from '../../store/types.js';
import type { OAuthServerStore } from '../../consumers/services.js';

/** Readable prefixes, so a leaked token is recognisable and the auth policy tells it from an API key at a glance. */
export const ACCESS_TOKEN_PREFIX = 'tgo_';
const REFRESH_TOKEN_PREFIX = 'tgr_';

/** The client as the library sees it. */
export interface ModelClient {
  id: string;
  grants: string[];
  credentialId: string;
  confidential: boolean;
  scopes: string[];
  accessTokenLifetime: number;
  refreshTokenLifetime: number;
}

/** `id` is null for client_credentials (the token acts for the client itself). */
interface ModelUser {
  id: string | null;
  username?: string;
}

export interface IssuedToken {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken?: string;
  refreshTokenExpiresAt?: Date;
  scope: string[];
  client: ModelClient;
  user: ModelUser;
}

export function modelClient(c: Credential, lifetimes: { accessMs: number; refreshMs: number }): ModelClient {
  return {
    id: c.clientId ?? '',
    grants: [...c.grants],
    credentialId: c.id,
    confidential: c.clientType === 'confidential',
    scopes: [...c.scopes],
    // The library wants seconds.
    accessTokenLifetime: Math.round(lifetimes.accessMs / 1000),
    refreshTokenLifetime: Math.round(lifetimes.refreshMs / 1000),
  };
}

type Model = OAuth2Server.PasswordModel & OAuth2Server.RefreshTokenModel & OAuth2Server.ClientCredentialsModel;

export function createModel(store: OAuthServerStore, client: ModelClient): Model {
  const model = {
    getClient(clientId: string) {
      return Promise.resolve(clientId === client.id ? client : undefined);
    },
    async getUser(username: string, password: string) {
      const user = await store.verifyUser(username, password);
      return user ? { id: user.id, username: user.username } : undefined;
    },
    getUserFromClient() {
      return Promise.resolve({ id: null });
    },
    /** RFC 6749 §3.3: no `scope` gets the client's scopes; asking for one the client lacks is invalid_scope. */
    validateScope(_user: unknown, c: ModelClient, scope?: string[]) {
      if (!scope || scope.length === 0) return Promise.resolve([...c.scopes]);
      return Promise.resolve(scope.every((s) => c.scopes.includes(s)) ? [...new Set(scope)] : false);
    },
    generateAccessToken() {
      return Promise.resolve(generateSecret(ACCESS_TOKEN_PREFIX));
    },
    generateRefreshToken() {
      return Promise.resolve(generateSecret(REFRESH_TOKEN_PREFIX));
    },
    async saveToken(token: OAuth2Server.Token, c: ModelClient, user: ModelUser): Promise<IssuedToken> {
      // Refresh tokens only for confidential clients allowed to refresh (RFC 6749 §4.3.3, §10.4).
      const refresh = c.confidential && c.grants.includes('refresh_token') && token.refreshToken ? token.refreshToken : undefined;
      const scope = (token.scope) ?? [];
      await store.saveOAuthToken({
        accessToken: token.accessToken,
        refreshToken: refresh,
        credentialId: c.credentialId,
        userId: user.id,
        scopes: scope,
        accessExpiresAt: token.accessTokenExpiresAt!,
        refreshExpiresAt: refresh ? token.refreshTokenExpiresAt : null,
      });
      return {
        accessToken: token.accessToken,
        accessTokenExpiresAt: token.accessTokenExpiresAt!,
        ...(refresh ? { refreshToken: refresh, refreshTokenExpiresAt: token.refreshTokenExpiresAt } : {}),
        scope,
        client: c,
        user,
      };
    },
    async getRefreshToken(refreshToken: string) {
      const m = await store.findOAuthToken(refreshToken, 'refresh');
      if (!m) return undefined;
      return {
        refreshToken,
        refreshTokenExpiresAt: m.token.refreshExpiresAt ?? undefined,
        scope: m.token.scopes,
        client: { id: m.token.clientId, grants: [] },
        user: { id: m.token.userId, username: m.username ?? undefined },
      };
    },
    /**
     * The refresh token rotates: the grant it belongs to ends before the new one is saved. Only one of two
     * concurrent refreshes with the same token wins (writes are serialised); the other gets invalid_grant.
     */
    async revokeToken(token: OAuth2Server.RefreshToken | OAuth2Server.Token) {
      if (!token.refreshToken) return false;
      return (await store.revokeOAuthToken(token.refreshToken, client.credentialId)) === 'revoked';
    },
    getAccessToken() {
      // Bearer calls are checked by the auth policy through the consumer directory, not by the library.
      return Promise.resolve(undefined);
    },
  };
  return model as unknown as Model;
}
