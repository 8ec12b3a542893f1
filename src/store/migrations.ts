/**
 * Schema migrations, in code (no files read at run time, so they ship inside the bundle). Append new
 * migrations; never edit one that has shipped. Names sort in order of application.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';

// Migrations must not depend on the current row types (they describe past schemas), hence `any` here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

const initial: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('store_version')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .execute();
    await db.insertInto('store_version').values({ id: 1, version: 0 }).execute();

    await db.schema
      .createTable('changes')
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('entity', 'text', (c) => c.notNull())
      .addColumn('entity_id', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('changes_version').on('changes').column('version').execute();

    await db.schema
      .createTable('services')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text')
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('metrics')
      .addColumn('service_id', 'text', (c) => c.notNull().references('services.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addPrimaryKeyConstraint('metrics_pk', ['service_id', 'name'])
      .execute();

    await db.schema
      .createTable('mapping_rules')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('service_id', 'text', (c) => c.notNull())
      .addColumn('method', 'text', (c) => c.notNull())
      .addColumn('pattern', 'text', (c) => c.notNull())
      .addColumn('metric', 'text', (c) => c.notNull())
      .addColumn('delta', 'integer', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('last', 'integer', (c) => c.notNull())
      .addForeignKeyConstraint('mapping_rules_metric_fk', ['service_id', 'metric'], 'metrics', ['service_id', 'name'], (c) =>
        c.onDelete('cascade'),
      )
      .execute();
    await db.schema.createIndex('mapping_rules_service').on('mapping_rules').columns(['service_id', 'position']).execute();

    await db.schema
      .createTable('plans')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('service_id', 'text', (c) => c.references('services.id'))
      .addColumn('limits', 'text', (c) => c.notNull())
      .addColumn('throttles', 'text', (c) => c.notNull())
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('applications')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('plan_id', 'text', (c) => c.notNull().references('plans.id'))
      .addColumn('service_id', 'text', (c) => c.references('services.id'))
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('credentials')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.unique())
      .addColumn('client_type', 'text')
      .addColumn('redirect_uris', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text')
      .addColumn('hint', 'text')
      .addColumn('label', 'text')
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    // Lookups go by hash; NULL hashes (public OAuth2 clients) do not collide in either dialect.
    await db.schema.createIndex('credentials_secret').unique().on('credentials').columns(['kind', 'secret_hash']).execute();
    await db.schema.createIndex('credentials_application').on('credentials').column('application_id').execute();

    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('username', 'text', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('application_id', 'text', (c) => c.references('applications.id').onDelete('set null'))
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    // No foreign key: a usage flush must never fail because an application was removed meanwhile.
    await db.schema
      .createTable('usage')
      .addColumn('application_id', 'text', (c) => c.notNull())
      .addColumn('metric', 'text', (c) => c.notNull())
      .addColumn('period', 'text', (c) => c.notNull())
      .addColumn('period_start', 'text', (c) => c.notNull())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('usage_pk', ['application_id', 'metric', 'period', 'period_start'])
      .execute();
  },
  async down(db: AnyDb) {
    for (const t of ['usage', 'users', 'credentials', 'applications', 'plans', 'mapping_rules', 'metrics', 'services', 'changes', 'store_version']) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};

/**
 * The in-process limiter's counters, so daily, monthly and eternity limits survive a restart without Redis.
 * Keys are the limiter's own (scope, subject, metric, window start); `expires_at` (null: never) lets a start
 * skip and prune the windows that ended.
 */
const limitCounters: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('limit_counters')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .execute();
    await db.schema.createIndex('limit_counters_expires').on('limit_counters').column('expires_at').execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropTable('limit_counters').ifExists().execute();
  },
};

/**
 * The OAuth2 authorization server's tokens (RFC 6749), stored as SHA-256 of the access and refresh token
 * values (192-bit random, like API keys: nothing to brute-force, and lookups go by index). One row per grant:
 * the access token and the refresh token issued with it are revoked together. OAuth2 clients gain their
 * allowed grants and scopes (JSON arrays; NULL: the defaults of their client type, no scopes).
 */
const oauthTokens: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('oauth_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('access_hash', 'text', (c) => c.notNull().unique())
      .addColumn('refresh_hash', 'text', (c) => c.unique())
      .addColumn('credential_id', 'text', (c) => c.notNull().references('credentials.id').onDelete('cascade'))
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('application_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('access_expires_at', 'text', (c) => c.notNull())
      .addColumn('refresh_expires_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
    // "A new token for the same user and client invalidates the previous one" looks rows up by this pair.
    await db.schema.createIndex('oauth_tokens_client_user').on('oauth_tokens').columns(['client_id', 'user_id']).execute();
    await db.schema.alterTable('credentials').addColumn('grants', 'text').execute();
    await db.schema.alterTable('credentials').addColumn('scopes', 'text').execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropTable('oauth_tokens').ifExists().execute();
    await db.schema.alterTable('credentials').dropColumn('grants').execute();
    await db.schema.alterTable('credentials').dropColumn('scopes').execute();
  },
};

const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_limit_counters': limitCounters,
  '0003_oauth_tokens': oauthTokens,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};

