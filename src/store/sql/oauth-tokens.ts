/** OAuth2 access and refresh tokens (hashes only): issued, found, revoked (RFC 7009) and pruned. */
import { generateId, hashesEqual, sha256Hex } from '../secrets.js';
import { iso, toApplication, toCredential, toOAuthToken, toPlan } from '../rows.js';
import { checkScopes, plausibleSecret } from '../validate.js';
import { StoreError } from '../types.js';
import type { OAuthToken, OAuthTokenMatch, RevokeOAuthTokenResult, SaveOAuthTokenInput } from '../types.js';
import type { SqlContext } from './context.js';

export class OAuthTokenRepository {
  constructor(private readonly ctx: SqlContext) {}

  save(input: SaveOAuthTokenInput): Promise<{ token: OAuthToken; replaced: number }> {
    if (!plausibleSecret(input.accessToken) || (input.refreshToken !== undefined && !plausibleSecret(input.refreshToken))) {
      return Promise.reject(new StoreError('INVALID', 'token values must be 1-512 characters.'));
    }
    const scopes = checkScopes(input.scopes);
    return this.ctx.write(async ({ trx, touch, now }) => {
      const cred = await trx
        .selectFrom('credentials')
        .select(['id', 'client_id', 'application_id', 'kind'])
        .where('id', '=', input.credentialId)
        .executeTakeFirst();
      if (!cred || cred.kind !== 'oauth2_client' || cred.client_id === null) throw new StoreError('INVALID', `OAuth2 client credential '${input.credentialId}' does not exist.`);
      // The previous tokens of this client and user stop working as this one is issued (same transaction).
      let previous = trx.selectFrom('oauth_tokens').select('id').where('client_id', '=', cred.client_id).where('revoked_at', 'is', null);
      previous = input.userId === null ? previous.where('user_id', 'is', null) : previous.where('user_id', '=', input.userId);
      const old = await previous.execute();
      for (const o of old) {
        await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('id', '=', o.id).execute();
        touch('oauth_token', o.id);
      }
      const row = {
        id: generateId('tok_'),
        access_hash: sha256Hex(input.accessToken),
        refresh_hash: input.refreshToken === undefined ? null : sha256Hex(input.refreshToken),
        credential_id: cred.id,
        client_id: cred.client_id,
        application_id: cred.application_id,
        user_id: input.userId,
        scopes: scopes.join(' '),
        access_expires_at: iso(input.accessExpiresAt),
        refresh_expires_at: input.refreshExpiresAt == null || input.refreshToken === undefined ? null : iso(input.refreshExpiresAt),
        created_at: now,
        revoked_at: null,
      };
      await trx.insertInto('oauth_tokens').values(row).execute();
      touch('oauth_token', row.id);
      return { token: toOAuthToken(row), replaced: old.length };
    });
  }

  async find(value: string, kind: 'access' | 'refresh'): Promise<OAuthTokenMatch | undefined> {
    if (!plausibleSecret(value)) return undefined;
    const db = this.ctx.db;
    const hash = sha256Hex(value);
    const column = kind === 'access' ? 'access_hash' : 'refresh_hash';
    const row = await db.selectFrom('oauth_tokens').selectAll().where(column, '=', hash).executeTakeFirst();
    const stored = row?.[column];
    if (!row || stored == null || !hashesEqual(stored, hash) || row.revoked_at !== null) return undefined;
    const now = iso(this.ctx.now());
    const expires = kind === 'access' ? row.access_expires_at : row.refresh_expires_at;
    if (expires !== null && expires <= now) return undefined;
    const cred = await db.selectFrom('credentials').selectAll().where('id', '=', row.credential_id).executeTakeFirst();
    // A revoked or expired client takes its tokens with it.
    if (!cred || cred.revoked_at !== null || (cred.expires_at !== null && cred.expires_at <= now)) return undefined;
    const app = await db.selectFrom('applications').selectAll().where('id', '=', cred.application_id).executeTakeFirst();
    if (!app) return undefined;
    const plan = await db.selectFrom('plans').selectAll().where('id', '=', app.plan_id).executeTakeFirst();
    const user = row.user_id === null ? undefined : await db.selectFrom('users').select('username').where('id', '=', row.user_id).executeTakeFirst();
    return { token: toOAuthToken(row), credential: toCredential(cred), application: toApplication(app), plan: plan && toPlan(plan), username: user?.username ?? null };
  }

  revoke(value: string, credentialId: string): Promise<RevokeOAuthTokenResult> {
    if (!plausibleSecret(value)) return Promise.resolve('unknown');
    const hash = sha256Hex(value);
    return this.ctx.write(async ({ trx, touch, now }) => {
      const row = await trx
        .selectFrom('oauth_tokens')
        .select(['id', 'credential_id', 'revoked_at'])
        .where((eb) => eb.or([eb('access_hash', '=', hash), eb('refresh_hash', '=', hash)]))
        .executeTakeFirst();
      if (!row) return 'unknown';
      if (row.credential_id !== credentialId) return 'other_client';
      if (row.revoked_at !== null) return 'already_revoked';
      await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('id', '=', row.id).execute();
      touch('oauth_token', row.id);
      return 'revoked';
    });
  }

  revokeAllOf(credentialId: string): Promise<number> {
    return this.ctx.write(async ({ trx, touch, now }) => {
      const rows = await trx.selectFrom('oauth_tokens').select('id').where('credential_id', '=', credentialId).where('revoked_at', 'is', null).execute();
      for (const r of rows) {
        await trx.updateTable('oauth_tokens').set({ revoked_at: now }).where('id', '=', r.id).execute();
        touch('oauth_token', r.id);
      }
      return rows.length;
    });
  }

  async prune(now: Date): Promise<number> {
    const t = iso(now);
    const res = await this.ctx.db
      .deleteFrom('oauth_tokens')
      .where((eb) =>
        eb.or([
          eb('revoked_at', 'is not', null),
          eb.and([eb('access_expires_at', '<=', t), eb.or([eb('refresh_expires_at', 'is', null), eb('refresh_expires_at', '<=', t)])]),
        ]),
      )
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
