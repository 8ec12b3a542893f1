/** The part of simple-oauth2 (which ships no types) the OAuth2 example test drives. */
declare module 'simple-oauth2' {
  interface Config {
    client: { id: string; secret: string };
    auth: { tokenHost: string; tokenPath?: string; revokePath?: string };
    options?: { authorizationMethod?: 'header' | 'body'; bodyFormat?: 'form' | 'json' };
  }
  interface AccessToken {
    token: Record<string, unknown>;
    expired(): boolean;
    refresh(params?: Record<string, unknown>): Promise<AccessToken>;
    revoke(tokenType: 'access_token' | 'refresh_token'): Promise<void>;
  }
  export class ResourceOwnerPassword {
    constructor(config: Config);
    getToken(params: { username: string; password: string; scope?: string | string[] }): Promise<AccessToken>;
  }
  export class ClientCredentials {
    constructor(config: Config);
    getToken(params: { scope?: string | string[] }): Promise<AccessToken>;
  }
}
