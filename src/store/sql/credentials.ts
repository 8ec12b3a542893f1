/**
 * Credentials (API keys, user keys, app keys, OAuth2 clients) and the lookup behind every authenticated
 * request: secrets are stored as SHA-256 hashes, found by index on the hash, compared in constant time.
 */
import { generateId, generateSecret, hashesEqual, secretHint, SECRET_PREFIX, sha256Hex } from '../secrets.js';
import { iso, toApplication, toCredential, toPlan } from '../rows.js';
import { checkGrants, checkId, checkRedirectUris, checkScopes, checkSecret, plausibleSecret } from '../validate.js';
import { CREDENTIAL_KINDS, StoreError } from '../types.js';
import type { CreateCredentialInput, CreatedCredential, Credential, CredentialMatch, OAuth2ClientType, Origin, PresentedCredential } from '../types.js';
import { requireApplication } from './context.js';
import type { SqlContext, WriteScope } from './context.js';

/** A key's scopes as stored: NULL for an unscoped key (all scopes), so keys made before scopes keep their meaning. */
export function keyScopes(scopes: readonly string[] | undefined): string | null {
  return scopes?.length ? JSON.stringify(checkScopes(scopes)) : null;
}

export class CredentialRepository {
  constructor(private readonly ctx: SqlContext) {}

  create(applicationId: string, input: CreateCredentialInput): Promise<CreatedCredential> {
    return this.ctx.write(async (w) => {
      await requireApplication(w.trx, applicationId, 'NOT_FOUND');
      return this.insert(w, applicationId, input, 'api');
    });
  }

  async insert({ trx, touch, now }: WriteScope, applicationId: string, input: CreateCredentialInput, origin: Origin): Promise<CreatedCredential> {
    if (!CREDENTIAL_KINDS.includes(input.kind)) throw new StoreError('INVALID', `credential kind must be one of ${CREDENTIAL_KINDS.join(', ')}.`);
    if (input.expiresAt != null && Number.isNaN(input.expiresAt.getTime())) throw new StoreError('INVALID', 'expiresAt is not a valid date.');
    let secret: string | undefined;
    let clientId: string | null = null;
    let clientType: string | null = null;
    let redirectUris: string[] = [];
    let grants: string | null = null;
    let scopes: string | null = null;
    if (input.kind === 'oauth2_client') {
      if (input.clientType !== 'confidential' && input.clientType !== 'public') throw new StoreError('INVALID', `clientType must be 'confidential' or 'public'.`);
      clientType = input.clientType;
      clientId = input.clientId === undefined ? generateSecret(SECRET_PREFIX.client_id).slice(0, 24) : checkId('OAuth2 client', input.clientId);
      redirectUris = checkRedirectUris(input.redirectUris ?? []);
      if (input.grants !== undefined) grants = JSON.stringify(checkGrants(clientType as OAuth2ClientType, input.grants));
      if (input.scopes !== undefined) scopes = JSON.stringify(checkScopes(input.scopes));
      const taken = await trx.selectFrom('credentials').select('id').where('client_id', '=', clientId).executeTakeFirst();
      if (taken) throw new StoreError('CONFLICT', `OAuth2 client '${clientId}' already exists.`);
      // RFC 6749 §2.1: a public client cannot keep a secret, so it gets none.
      if (clientType === 'public' && input.secret !== undefined) throw new StoreError('INVALID', 'a public OAuth2 client has no secret.');
      if (clientType === 'confidential') secret = input.secret === undefined ? generateSecret(SECRET_PREFIX.oauth2_client) : checkSecret('client secret', input.secret);
    } else {
      secret = input.secret === undefined ? generateSecret(SECRET_PREFIX[input.kind]) : checkSecret('key', input.secret);
      scopes = keyScopes(input.scopes);
    }
    const secretHash = secret === undefined ? null : sha256Hex(secret);
    if (secretHash !== null) {
      const taken = await trx.selectFrom('credentials').select('id').where('kind', '=', input.kind).where('secret_hash', '=', secretHash).executeTakeFirst();
      // Does not say where the key is in use: that would confirm a guessed key to its guesser.
      if (taken) throw new StoreError('CONFLICT', 'that key is already in use.');
    }
    const row = {
      id: generateId('cred_'),
      application_id: applicationId,
      kind: input.kind,
      client_id: clientId,
      client_type: clientType,
      redirect_uris: JSON.stringify(redirectUris),
      secret_hash: secretHash,
      hint: secret === undefined ? null : secretHint(secret),
      label: input.label ?? null,
      origin,
      created_at: now,
      expires_at: input.expiresAt == null ? null : iso(input.expiresAt),
      revoked_at: null,
      grants,
      scopes,
    };
    await trx.insertInto('credentials').values(row).execute();
    touch('credential', row.id);
    touch('application', applicationId);
    const credential = toCredential(row);
    return secret === undefined ? { credential } : { credential, secret };
  }

  async get(id: string): Promise<Credential | undefined> {
    const row = await this.ctx.db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toCredential(row);
  }

  async list(applicationId: string): Promise<Credential[]> {
    const rows = await this.ctx.db.selectFrom('credentials').selectAll().where('application_id', '=', applicationId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toCredential);
  }

  revoke(id: string): Promise<boolean> {
    return this.ctx.write(async ({ trx, touch, now }) => {
      const row = await trx.selectFrom('credentials').select(['id', 'application_id', 'revoked_at']).where('id', '=', id).executeTakeFirst();
      if (!row) return false;
      if (row.revoked_at === null) {
        await trx.updateTable('credentials').set({ revoked_at: now }).where('id', '=', id).execute();
        touch('credential', id);
        touch('application', row.application_id);
      }
      return true;
    });
  }

  async find(presented: PresentedCredential): Promise<CredentialMatch | undefined> {
    const db = this.ctx.db;
    const base = db.selectFrom('credentials').selectAll();
    let row: Awaited<ReturnType<typeof base.executeTakeFirst>>;
    switch (presented.kind) {
      case 'api_key':
      case 'user_key': {
        if (!plausibleSecret(presented.key)) return undefined;
        const hash = sha256Hex(presented.key);
        // Found by index on the hash; the final comparison is still constant-time.
        const found = await base.where('kind', '=', presented.kind).where('secret_hash', '=', hash).executeTakeFirst();
        row = found?.secret_hash != null && hashesEqual(found.secret_hash, hash) ? found : undefined;
        break;
      }
      case 'app_key': {
        if (!plausibleSecret(presented.appKey)) return undefined;
        const hash = sha256Hex(presented.appKey);
        const keys = await base.where('application_id', '=', presented.appId).where('kind', '=', 'app_key').execute();
        // Compare against every key, so timing does not depend on which one matched.
        for (const k of keys) if (k.secret_hash !== null && hashesEqual(k.secret_hash, hash) && !row) row = k;
        break;
      }
      case 'oauth2_client': {
        const found = await base.where('kind', '=', 'oauth2_client').where('client_id', '=', presented.clientId).executeTakeFirst();
        if (found?.client_type === 'public') row = found;
        else if (found?.secret_hash != null && plausibleSecret(presented.clientSecret)) {
          row = hashesEqual(found.secret_hash, sha256Hex(presented.clientSecret)) ? found : undefined;
        }
        break;
      }
      default:
        return undefined;
    }
    if (!row || row.revoked_at !== null) return undefined;
    const now = iso(this.ctx.now());
    if (row.expires_at !== null && row.expires_at <= now) return undefined;
    const app = await db.selectFrom('applications').selectAll().where('id', '=', row.application_id).executeTakeFirst();
    if (!app) return undefined;
    const plan = await db.selectFrom('plans').selectAll().where('id', '=', app.plan_id).executeTakeFirst();
    const application = toApplication(app);
    return { credential: toCredential(row), application, plan: plan && toPlan(plan), state: application.state };
  }
}
