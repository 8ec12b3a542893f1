/**
 * The Store conformance suite: every store implementation (SQLite file, PostgreSQL) must pass it unchanged.
 * Behaviour only: what the CLI, the admin API and the auth/rate-limit/usage policies will rely on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CONSUMER_LOOKUP, LIMIT_COUNTER_JOURNAL, narrow, OAUTH_TOKEN_STORE, USAGE_SINK } from '../../src/store/ports.js';
import { StoreError } from '../../src/store/types.js';
import type { ConsumerLookup, LimitCounterJournal, OAuthTokenStore, Store, UsageSink } from '../../src/store/types.js';

export interface StoreHarness {
  store: Store;
  /** Everything the store has persisted, as text, to look for secrets that should not be there. */
  rawContents(): Promise<string>;
  /** Removes the database (temp file, Postgres schema). Called after store.close(). */
  destroy(): Promise<void>;
}

/**
 * The data plane's views of a store, as the gateway hands them out (src/gateway/consumers.ts): each has
 * only its narrow interface's methods. Every call the data plane makes goes through one of them here, so the
 * suite checks that those interfaces are enough; the control plane's operations use the whole store.
 */
const lookup = (s: Store): ConsumerLookup => narrow(s, CONSUMER_LOOKUP);
const usageSink = (s: Store): UsageSink => narrow(s, USAGE_SINK);
const counters = (s: Store): LimitCounterJournal => narrow(s, LIMIT_COUNTER_JOURNAL);
const oauth = (s: Store): OAuthTokenStore => narrow(s, OAUTH_TOKEN_STORE);

export type OpenHarness = (options?: { now?: () => Date }) => Promise<StoreHarness>;

async function expectStoreError(p: Promise<unknown>, code: StoreError['code']): Promise<StoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  return err as StoreError;
}

export function runStoreConformance(name: string, openHarness: OpenHarness): void {
  describe(`store conformance: ${name}`, () => {
    const open: Array<StoreHarness> = [];
    const fresh = async (options?: { now?: () => Date }): Promise<Store> => {
      const h = await openHarness(options);
      open.push(h);
      return h.store;
    };
    afterEach(async () => {
      for (const h of open.splice(0)) {
        await h.store.close().catch(() => {});
        await h.destroy();
      }
    });

    /** A service, a plan limited to 5 hits a minute, and an active application on it. */
    async function seed(store: Store): Promise<void> {
      await store.createService({ id: 'books', name: 'Books API', token: false });
      await store.upsertPlan({ id: 'free', name: 'Free', serviceId: 'books', limits: [{ metric: 'hits', period: 'minute', max: 5 }] });
      await store.createApplication({ id: 'demo', name: 'Demo app', planId: 'free' });
    }

    it('creates, lists and shows services, metrics, mapping rules, plans and applications', async () => {
      const store = await fresh();
      const { service, token } = await store.createService({ id: 'books', name: 'Books API' });
      expect(service).toMatchObject({ id: 'books', name: 'Books API', hasToken: true, origin: 'api' });
      expect(token).toMatch(/^tgt_/);
      expect(await lookup(store).verifyServiceToken('books', token!)).toBe(true);
      expect(await lookup(store).verifyServiceToken('books', `${token}x`)).toBe(false);
      expect((await store.listServices()).map((s) => s.id)).toEqual(['books']);
      expect(await lookup(store).getService('nope')).toBeUndefined();

      await store.upsertMetric('books', { name: 'searches', description: 'Search calls' });
      expect((await lookup(store).listMetrics('books')).map((m) => m.name)).toEqual(['hits', 'searches']);
      await store.createMappingRule('books', { method: 'get', pattern: '/books/{id}$' });
      await store.createMappingRule('books', { method: 'GET', pattern: '/search', metric: 'searches', delta: 2, last: true });
      const rules = await lookup(store).listMappingRules('books');
      expect(rules.map((r) => [r.method, r.pattern, r.metric, r.delta, r.last])).toEqual([
        ['GET', '/books/{id}$', 'hits', 1, false],
        ['GET', '/search', 'searches', 2, true],
      ]);
      await expectStoreError(store.createMappingRule('books', { method: 'GET', pattern: '/x', metric: 'unknown' }), 'INVALID');
      expect(await store.deleteMappingRule(rules[0].id)).toBe(true);
      expect(await store.deleteMappingRule(rules[0].id)).toBe(false);

      const plan = await store.upsertPlan({
        id: 'free',
        name: 'Free',
        serviceId: 'books',
        limits: [
          { metric: 'hits', period: 'minute', max: 5 },
          { metric: 'searches', period: 'month', max: 1000 },
        ],
        throttles: [{ per: 'second', max: 2 }],
      });
      expect(plan.limits).toEqual([
        { metric: 'hits', period: 'minute', max: 5 },
        { metric: 'searches', period: 'month', max: 1000 },
      ]);
      expect(plan.throttles).toEqual([{ metric: 'hits', per: 'second', max: 2 }]);
      expect(await lookup(store).getPlan('free')).toEqual(plan);
      await store.upsertPlan({ id: 'free', limits: [{ metric: 'hits', period: 'day', max: 100 }] });
      expect((await lookup(store).getPlan('free'))?.limits).toEqual([{ metric: 'hits', period: 'day', max: 100 }]);
      expect((await lookup(store).getPlan('free'))?.name).toBe('Free');
      await expectStoreError(store.upsertPlan({ id: 'bad', limits: [{ metric: 'hits', period: 'fortnight' as 'day', max: 1 }] }), 'INVALID');

      const app = await store.createApplication({ id: 'demo', name: 'Demo app', planId: 'free' });
      expect(app).toMatchObject({ id: 'demo', name: 'Demo app', planId: 'free', serviceId: 'books', state: 'active', origin: 'api' });
      expect(app.createdAt).toBeInstanceOf(Date);
      const generated = await store.createApplication({ planId: 'free' });
      expect(generated.id).toMatch(/^app_[0-9a-f]{16}$/);
      expect(await lookup(store).getApplication('demo')).toEqual(app);
      expect((await store.listApplications()).map((a) => a.id).sort()).toEqual([generated.id, 'demo'].sort());
      expect(await store.listApplications({ state: 'suspended' })).toEqual([]);
      await expectStoreError(store.createApplication({ id: 'demo', planId: 'free' }), 'CONFLICT');
      await expectStoreError(store.createApplication({ id: 'x', planId: 'no-such-plan' }), 'INVALID');
      await expectStoreError(store.updateApplication('no-such-app', { state: 'suspended' }), 'NOT_FOUND');
    });

    it('returns each new secret once and stores only its hash', async () => {
      const h = await openHarness();
      open.push(h);
      const { store } = h;
      const { token } = await store.createService({ id: 'books' });
      await store.upsertPlan({ id: 'free', serviceId: 'books' });
      await store.createApplication({ id: 'demo', planId: 'free' });
      const created = [
        await store.createCredential('demo', { kind: 'api_key' }),
        await store.createCredential('demo', { kind: 'user_key' }),
        await store.createCredential('demo', { kind: 'app_key' }),
        await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', redirectUris: ['https://app.example/cb'] }),
        await store.createCredential('demo', { kind: 'api_key', secret: 'declared-from-env-1234' }),
      ];
      const password = 'a long user password';
      await store.createUser({ username: 'alice', password });
      const secrets = [token!, ...created.map((c) => c.secret!), password];
      for (const s of secrets) expect(s).toBeTruthy();
      expect(created[0].secret).toMatch(/^tgk_[A-Za-z0-9_-]{32}$/);
      expect(new Set(secrets).size).toBe(secrets.length);

      const raw = await h.rawContents();
      expect(raw).toContain('alice'); // the scan does see the data
      for (const s of secrets) expect(raw).not.toContain(s);

      const listed = JSON.stringify([await store.listCredentials('demo'), await store.getCredential(created[0].credential.id), await store.listUsers()]);
      for (const s of secrets) expect(listed).not.toContain(s);
      expect(listed).not.toMatch(/[0-9a-f]{64}/); // no hash either
      expect(created[0].credential.hint).toBe(`tgk_…${created[0].secret!.slice(-4)}`);
      expect(created[3].credential).toMatchObject({ kind: 'oauth2_client', clientType: 'confidential', redirectUris: ['https://app.example/cb'] });
      expect(created[3].credential.clientId).toMatch(/^tgc_/);
    });

    it('finds the application, plan and state behind each kind of credential, and nothing for wrong ones', async () => {
      const store = await fresh();
      await seed(store);
      await store.createApplication({ id: 'other', planId: 'free' });
      const apiKey = (await store.createCredential('demo', { kind: 'api_key' })).secret!;
      const userKey = (await store.createCredential('demo', { kind: 'user_key' })).secret!;
      const appKey1 = (await store.createCredential('demo', { kind: 'app_key' })).secret!;
      const appKey2 = (await store.createCredential('demo', { kind: 'app_key' })).secret!;
      const otherAppKey = (await store.createCredential('other', { kind: 'app_key' })).secret!;
      const conf = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', clientId: 'web-client' });
      const pub = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'public', clientId: 'spa-client' });
      expect(pub.secret).toBeUndefined();

      const viaApiKey = await lookup(store).findCredential({ kind: 'api_key', key: apiKey });
      expect(viaApiKey?.application.id).toBe('demo');
      expect(viaApiKey?.plan?.limits).toEqual([{ metric: 'hits', period: 'minute', max: 5 }]);
      expect(viaApiKey?.state).toBe('active');
      expect(viaApiKey?.credential.kind).toBe('api_key');
      expect((await lookup(store).findCredential({ kind: 'user_key', key: userKey }))?.application.id).toBe('demo');
      expect((await lookup(store).findCredential({ kind: 'app_key', appId: 'demo', appKey: appKey1 }))?.application.id).toBe('demo');
      expect((await lookup(store).findCredential({ kind: 'app_key', appId: 'demo', appKey: appKey2 }))?.application.id).toBe('demo');
      expect((await lookup(store).findCredential({ kind: 'oauth2_client', clientId: 'web-client', clientSecret: conf.secret }))?.application.id).toBe('demo');
      expect((await lookup(store).findCredential({ kind: 'oauth2_client', clientId: 'spa-client' }))?.application.id).toBe('demo');

      // Wrong or misplaced credentials find nothing.
      expect(await lookup(store).findCredential({ kind: 'api_key', key: `${apiKey}x` })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'api_key', key: '' })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'user_key', key: apiKey })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'api_key', key: userKey })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'app_key', appId: 'demo', appKey: otherAppKey })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'app_key', appId: 'nope', appKey: appKey1 })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'oauth2_client', clientId: 'web-client' })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'oauth2_client', clientId: 'web-client', clientSecret: apiKey })).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'oauth2_client', clientId: 'nope', clientSecret: conf.secret })).toBeUndefined();
    });

    it('stops matching a revoked key, and an expired one', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const store = await fresh({ now: () => now });
      await seed(store);
      const revoked = await store.createCredential('demo', { kind: 'api_key' });
      const kept = await store.createCredential('demo', { kind: 'api_key' });
      const expiring = await store.createCredential('demo', { kind: 'api_key', expiresAt: new Date('2030-01-01T01:00:00Z') });

      expect(await lookup(store).findCredential({ kind: 'api_key', key: revoked.secret! })).toBeDefined();
      expect(await store.revokeCredential(revoked.credential.id)).toBe(true);
      expect(await lookup(store).findCredential({ kind: 'api_key', key: revoked.secret! })).toBeUndefined();
      expect((await store.getCredential(revoked.credential.id))?.revokedAt).toEqual(now);
      expect(await store.revokeCredential(revoked.credential.id)).toBe(true); // idempotent
      expect(await store.revokeCredential('cred_nope')).toBe(false);
      expect(await lookup(store).findCredential({ kind: 'api_key', key: kept.secret! })).toBeDefined();

      expect(await lookup(store).findCredential({ kind: 'api_key', key: expiring.secret! })).toBeDefined();
      now = new Date('2030-01-01T01:00:00Z');
      expect(await lookup(store).findCredential({ kind: 'api_key', key: expiring.secret! })).toBeUndefined();
      expect((await store.getCredential(expiring.credential.id))?.expiresAt).toEqual(new Date('2030-01-01T01:00:00Z'));
    });

    it('reports a suspended application as suspended, and active again once resumed', async () => {
      const store = await fresh();
      await seed(store);
      const { secret } = await store.createCredential('demo', { kind: 'api_key' });
      const suspended = await store.updateApplication('demo', { state: 'suspended' });
      expect(suspended.state).toBe('suspended');
      const match = await lookup(store).findCredential({ kind: 'api_key', key: secret! });
      expect(match?.state).toBe('suspended');
      expect(match?.application.id).toBe('demo');
      expect((await store.listApplications({ state: 'suspended' })).map((a) => a.id)).toEqual(['demo']);
      await store.updateApplication('demo', { state: 'active' });
      expect((await lookup(store).findCredential({ kind: 'api_key', key: secret! }))?.state).toBe('active');
    });

    it('deletes an application with its credentials, logs the change, keeps its users unbound', async () => {
      const store = await fresh();
      await seed(store);
      const { credential, secret } = await store.createCredential('demo', { kind: 'api_key' });
      await store.createUser({ username: 'alice', password: 'correct horse battery', applicationId: 'demo' });
      const v = await lookup(store).version();
      expect(await store.deleteApplication('demo')).toBe(true);
      expect(await lookup(store).getApplication('demo')).toBeUndefined();
      expect(await store.getCredential(credential.id)).toBeUndefined();
      expect(await lookup(store).findCredential({ kind: 'api_key', key: secret! })).toBeUndefined();
      expect((await store.getUser('alice'))?.applicationId).toBeNull();
      const seen = (await lookup(store).changesSince(v)).changes.map((c) => `${c.entity}:${c.id}`);
      expect(seen).toEqual(expect.arrayContaining([`credential:${credential.id}`, 'application:demo']));
      expect(await store.deleteApplication('demo')).toBe(false);
    });

    it('bumps the version on every write, reports what changed, and not on reads or usage', async () => {
      const store = await fresh();
      const v0 = await lookup(store).version();
      await seed(store);
      const v1 = await lookup(store).version();
      expect(v1).toBeGreaterThan(v0);

      await store.listApplications();
      await lookup(store).findCredential({ kind: 'api_key', key: 'tgk_whatever-whatever' });
      await usageSink(store).recordUsage([{ appId: 'demo', metric: 'hits', period: 'day', periodStart: new Date(), delta: 1 }]);
      expect(await lookup(store).version()).toBe(v1);
      expect(await lookup(store).changesSince(v1)).toEqual({ version: v1, changes: [], reset: false });

      const { credential } = await store.createCredential('demo', { kind: 'api_key' });
      await store.revokeCredential(credential.id);
      await store.updateApplication('demo', { state: 'suspended' });
      const set = await lookup(store).changesSince(v1);
      expect(set.version).toBe(await lookup(store).version());
      expect(set.version).toBeGreaterThanOrEqual(v1 + 3);
      expect(set.reset).toBe(false);
      const seen = set.changes.map((c) => `${c.entity}:${c.id}`);
      expect(seen).toContain(`credential:${credential.id}`);
      expect(seen).toContain('application:demo');
      expect(set.changes.every((c) => c.version > v1 && c.version <= set.version)).toBe(true);

      // A no-op write (same plan again) leaves the version alone.
      await store.upsertPlan({ id: 'free', name: 'Free', serviceId: 'books', limits: [{ metric: 'hits', period: 'minute', max: 5 }] });
      expect(await lookup(store).version()).toBe(set.version);
      // A cursor from the future (another database) asks the caller to start over.
      expect((await lookup(store).changesSince(set.version + 100)).reset).toBe(true);
    });

    it('hands out one version per concurrent write and loses no change', async () => {
      const store = await fresh();
      await seed(store);
      const v0 = await lookup(store).version();
      const ids = Array.from({ length: 20 }, (_, i) => `concurrent-${i}`);
      await Promise.all(ids.map((id) => store.createApplication({ id, planId: 'free' })));
      const set = await lookup(store).changesSince(v0);
      expect(set.version).toBe(v0 + ids.length);
      const appChanges = set.changes.filter((c) => c.entity === 'application');
      expect(appChanges.map((c) => c.id).sort()).toEqual([...ids].sort());
      expect(new Set(appChanges.map((c) => c.version)).size).toBe(ids.length);
    });

    it('adds up usage across batches and within one, per calendar period', async () => {
      const store = await fresh();
      const t = new Date('2024-03-15T10:42:37Z'); // a Friday
      await usageSink(store).recordUsage([
        { appId: 'demo', metric: 'hits', period: 'minute', periodStart: t, delta: 1 },
        { appId: 'demo', metric: 'hits', period: 'minute', periodStart: new Date('2024-03-15T10:42:59Z'), delta: 2 },
        { appId: 'demo', metric: 'hits', period: 'week', periodStart: t, delta: 3 },
        { appId: 'demo', metric: 'searches', period: 'day', periodStart: t, delta: 4 },
        { appId: 'other', metric: 'hits', period: 'minute', periodStart: t, delta: 100 },
      ]);
      await usageSink(store).recordUsage([
        { appId: 'demo', metric: 'hits', period: 'minute', periodStart: t, delta: 10 },
        { appId: 'demo', metric: 'hits', period: 'minute', periodStart: new Date('2024-03-15T10:43:00Z'), delta: 5 },
        { appId: 'demo', metric: 'hits', period: 'eternity', periodStart: t, delta: 3_000_000_000 },
      ]);
      await usageSink(store).recordUsage([]);

      const all = await store.getUsage('demo');
      expect(all.map((r) => [r.metric, r.period, r.periodStart.toISOString(), r.value])).toEqual([
        ['hits', 'eternity', '1970-01-01T00:00:00.000Z', 3_000_000_000],
        ['hits', 'minute', '2024-03-15T10:42:00.000Z', 13],
        ['hits', 'minute', '2024-03-15T10:43:00.000Z', 5],
        ['hits', 'week', '2024-03-11T00:00:00.000Z', 3],
        ['searches', 'day', '2024-03-15T00:00:00.000Z', 4],
      ]);
      const minutes = await store.getUsage('demo', { period: 'minute', since: new Date('2024-03-15T10:43:30Z') });
      expect(minutes.map((r) => r.value)).toEqual([5]);
      const sinceMorning = await store.getUsage('demo', { since: new Date('2024-03-15T08:00:00Z'), metric: 'hits' });
      expect(sinceMorning.map((r) => r.period)).toEqual(['eternity', 'minute', 'minute', 'week']);
      expect(await store.getUsage('nobody')).toEqual([]);
    });

    it('adds up limit counters across batches, loads the live ones and prunes the ended ones', async () => {
      const store = await fresh();
      const now = new Date('2024-03-15T10:42:37Z');
      const endOfDay = new Date('2024-03-16T00:00:01Z');
      const ended = new Date('2024-03-15T10:42:00Z');
      await counters(store).addLimitCounters([
        { key: 'p:demo:hits:day:1', delta: 2, expiresAt: endOfDay },
        { key: 'p:demo:hits:day:1', delta: 1, expiresAt: endOfDay },
        { key: 'p:demo:hits:eternity:0', delta: 7, expiresAt: null },
        { key: 'p:demo:hits:minute:1', delta: 4, expiresAt: ended },
        { key: 'p:demo:hits:hour:1', delta: 0, expiresAt: endOfDay },
      ]);
      await counters(store).addLimitCounters([
        { key: 'p:demo:hits:day:1', delta: 5, expiresAt: endOfDay },
        { key: 'p:demo:hits:eternity:0', delta: -1, expiresAt: null },
      ]);
      await counters(store).addLimitCounters([]);
      const live = await counters(store).loadLimitCounters(now);
      expect(live.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
        { key: 'p:demo:hits:day:1', value: 8, expiresAt: endOfDay },
        { key: 'p:demo:hits:eternity:0', value: 6, expiresAt: null },
      ]);
      expect(await counters(store).pruneLimitCounters(now)).toBe(1);
      expect(await counters(store).pruneLimitCounters(now)).toBe(0);
      expect((await counters(store).loadLimitCounters(now)).length).toBe(2);
    });

    it('syncs declared config idempotently, and leaves what the CLI made alone', async () => {
      const store = await fresh();
      const declared = {
        services: [{ id: 'books', name: 'Books', token: 'service-token-from-env', metrics: [{ name: 'searches' }], mappingRules: [{ method: 'GET', pattern: '/search', metric: 'searches' }] }],
        plans: [{ id: 'free', serviceId: 'books', limits: [{ metric: 'hits', period: 'minute' as const, max: 5 }] }],
        applications: [
          {
            id: 'demo',
            plan: 'free',
            credentials: [
              { kind: 'api_key' as const, secret: 'demo-key-from-env-1' },
              { kind: 'oauth2_client' as const, clientId: 'demo-web', clientType: 'confidential' as const, secret: 'demo-client-secret-1' },
            ],
          },
        ],
        users: [{ username: 'alice', password: 'alice-password-1', application: 'demo' }],
      };
      const first = await store.syncDeclared(declared);
      expect(first.created).toBeGreaterThanOrEqual(6);
      expect((await lookup(store).findCredential({ kind: 'api_key', key: 'demo-key-from-env-1' }))?.application.id).toBe('demo');
      expect((await lookup(store).findCredential({ kind: 'oauth2_client', clientId: 'demo-web', clientSecret: 'demo-client-secret-1' }))?.application.id).toBe('demo');
      expect(await lookup(store).verifyServiceToken('books', 'service-token-from-env')).toBe(true);
      expect((await lookup(store).verifyUser('alice', 'alice-password-1'))?.applicationId).toBe('demo');
      expect((await lookup(store).listMappingRules('books')).map((r) => r.metric)).toEqual(['searches']);
      expect((await lookup(store).getApplication('demo'))?.origin).toBe('config');

      const v = await lookup(store).version();
      const second = await store.syncDeclared(declared);
      expect(second).toMatchObject({ created: 0, updated: 0, revoked: 0 });
      expect(await lookup(store).version()).toBe(v);
      expect((await store.listCredentials('demo')).length).toBe(2);

      // The CLI adds a key and suspends the app; a restart with a rotated config key keeps both CLI changes.
      const cliKey = await store.createCredential('demo', { kind: 'api_key' });
      await store.updateApplication('demo', { state: 'suspended' });
      const rotated = { ...declared, applications: [{ ...declared.applications[0], credentials: [{ kind: 'api_key' as const, secret: 'demo-key-from-env-2' }] }] };
      const third = await store.syncDeclared(rotated);
      expect(third.revoked).toBe(2);
      expect(await lookup(store).findCredential({ kind: 'api_key', key: 'demo-key-from-env-1' })).toBeUndefined();
      expect((await lookup(store).findCredential({ kind: 'api_key', key: 'demo-key-from-env-2' }))?.state).toBe('suspended');
      expect((await lookup(store).findCredential({ kind: 'api_key', key: cliKey.secret! }))?.application.id).toBe('demo');

      // A declared key whose variable was unset (keepUndeclared): the config keys it no longer lists stay.
      const partly = { applications: [{ id: 'demo', plan: 'free', credentials: [], keepUndeclared: true }] };
      expect((await store.syncDeclared(partly)).revoked).toBe(0);
      expect((await lookup(store).findCredential({ kind: 'api_key', key: 'demo-key-from-env-2' }))?.application.id).toBe('demo');

      // The same key declared for two applications is a conflict that does not reveal the key.
      const clash = { plans: declared.plans, applications: [{ id: 'thief', plan: 'free', credentials: [{ kind: 'api_key' as const, secret: 'demo-key-from-env-2' }] }] };
      const err = await expectStoreError(store.syncDeclared(clash), 'CONFLICT');
      expect(err.message).not.toContain('demo-key-from-env-2');
      expect(await lookup(store).getApplication('thief')).toBeUndefined(); // all or nothing
    });

    it('verifies user passwords, and fails a wrong password or an unknown user alike', async () => {
      const store = await fresh();
      const user = await store.createUser({ username: 'alice', password: 'correct horse battery' });
      expect(user).toMatchObject({ username: 'alice', applicationId: null, origin: 'api' });
      expect(user.id).toMatch(/^usr_/);
      expect((await lookup(store).verifyUser('alice', 'correct horse battery'))?.id).toBe(user.id);
      expect(await lookup(store).verifyUser('alice', 'correct horse batterY')).toBeUndefined();
      expect(await lookup(store).verifyUser('bob', 'correct horse battery')).toBeUndefined();
      expect(await store.getUser('alice')).toEqual(user);
      expect(await store.getUser(user.id)).toEqual(user);
      await store.setUserPassword('alice', 'a new password');
      expect(await lookup(store).verifyUser('alice', 'correct horse battery')).toBeUndefined();
      expect((await lookup(store).verifyUser('alice', 'a new password'))?.id).toBe(user.id);
      await expectStoreError(store.createUser({ username: 'alice', password: 'another password' }), 'CONFLICT');
      const short = await expectStoreError(store.createUser({ username: 'carol', password: 'pw' }), 'INVALID');
      expect(short.message).not.toContain('pw');
    });

    it('rejects a key that is already in use without saying where', async () => {
      const store = await fresh();
      await seed(store);
      await store.createApplication({ id: 'other', planId: 'free' });
      await store.createCredential('demo', { kind: 'api_key', secret: 'shared-secret-value' });
      const err = await expectStoreError(store.createCredential('other', { kind: 'api_key', secret: 'shared-secret-value' }), 'CONFLICT');
      expect(err.message).not.toContain('shared-secret-value');
      expect(err.message).not.toContain('demo');
      await expectStoreError(store.createCredential('nope', { kind: 'api_key' }), 'NOT_FOUND');
      await expectStoreError(store.createCredential('demo', { kind: 'oauth2_client', clientType: 'public', secret: 'public-clients-have-none' }), 'INVALID');
    });

    it('keeps OAuth2 clients\' grants and scopes, and refuses what a public client cannot use', async () => {
      const store = await fresh();
      await seed(store);
      const conf = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', clientId: 'web', scopes: ['read', 'write'] });
      expect(conf.credential).toMatchObject({ grants: ['password', 'refresh_token', 'client_credentials'], scopes: ['read', 'write'] });
      const pub = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'public', clientId: 'spa' });
      expect(pub.credential).toMatchObject({ grants: ['password'], scopes: [] });
      await expectStoreError(store.createCredential('demo', { kind: 'oauth2_client', clientType: 'public', grants: ['client_credentials'] }), 'INVALID');
      await expectStoreError(store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', scopes: ['has space'] }), 'INVALID');
      await store.syncDeclared({
        plans: [{ id: 'free' }],
        applications: [
          {
            id: 'demo',
            plan: 'free',
            credentials: [{ kind: 'oauth2_client', clientId: 'cfg', clientType: 'confidential', secret: 'cfg-client-secret', grants: ['client_credentials'], scopes: ['read'] }],
          },
        ],
      });
      const cfg = (await store.listCredentials('demo')).find((c) => c.clientId === 'cfg');
      expect(cfg).toMatchObject({ grants: ['client_credentials'], scopes: ['read'], origin: 'config' });
    });

    it("keeps a key's scopes (none: every scope), and a declared sync changes them in place and logs the change", async () => {
      const store = await fresh();
      await seed(store);
      const scoped = await store.createCredential('demo', { kind: 'api_key', scopes: ['read', 'write', 'read'] });
      expect(scoped.credential.scopes).toEqual(['read', 'write']);
      expect((await lookup(store).findCredential({ kind: 'api_key', key: scoped.secret! }))?.credential.scopes).toEqual(['read', 'write']);
      expect((await store.createCredential('demo', { kind: 'app_key', scopes: [] })).credential.scopes).toEqual([]);
      expect((await store.createCredential('demo', { kind: 'user_key' })).credential.scopes).toEqual([]);
      await expectStoreError(store.createCredential('demo', { kind: 'api_key', scopes: ['has space'] }), 'INVALID');

      const declare = (scopes?: string[]) => ({
        applications: [{ id: 'demo', plan: 'free', credentials: [{ kind: 'api_key' as const, secret: 'declared-key-0001', ...(scopes ? { scopes } : {}) }] }],
      });
      const find = async () => (await lookup(store).findCredential({ kind: 'api_key', key: 'declared-key-0001' }))?.credential;
      expect((await store.syncDeclared(declare(['read']))).created).toBe(1);
      const id = (await find())!.id;
      expect((await find())?.scopes).toEqual(['read']);
      const v = await lookup(store).version();
      expect(await store.syncDeclared(declare(['read']))).toMatchObject({ created: 0, updated: 0 });
      expect(await lookup(store).version()).toBe(v);
      expect((await store.syncDeclared(declare(['read', 'write']))).updated).toBe(1);
      expect(await find()).toMatchObject({ id, scopes: ['read', 'write'] });
      const changes = await lookup(store).changesSince(v);
      expect(changes.changes).toContainEqual(expect.objectContaining({ entity: 'credential', id }));
      // Declared without scopes again: unscoped, every scope.
      expect((await store.syncDeclared(declare())).updated).toBe(1);
      expect((await find())?.scopes).toEqual([]);
    });

    it('stores OAuth2 tokens hashed, finds active ones, and a new token for the same client and user replaces the old', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const h = await openHarness({ now: () => now });
      open.push(h);
      const store = h.store;
      await seed(store);
      const { credential } = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', clientId: 'web' });
      const user = await store.createUser({ username: 'alice', password: 'wonderland' });
      const hour = new Date(now.getTime() + 3_600_000);
      const first = await oauth(store).saveOAuthToken({
        accessToken: 'tgo_first-access-token-value',
        refreshToken: 'tgr_first-refresh-token-value',
        credentialId: credential.id,
        userId: user.id,
        scopes: ['read', 'write'],
        accessExpiresAt: hour,
        refreshExpiresAt: new Date(now.getTime() + 86_400_000),
      });
      expect(first.replaced).toBe(0);
      expect(first.token).toMatchObject({ clientId: 'web', applicationId: 'demo', userId: user.id, scopes: ['read', 'write'], hasRefreshToken: true, revokedAt: null });
      const raw = await h.rawContents();
      expect(raw).not.toContain('first-access-token-value');
      expect(raw).not.toContain('first-refresh-token-value');

      const found = await lookup(store).findOAuthToken('tgo_first-access-token-value', 'access');
      expect(found).toMatchObject({ application: { id: 'demo' }, plan: { id: 'free' }, username: 'alice', token: { id: first.token.id } });
      expect((await lookup(store).findOAuthToken('tgr_first-refresh-token-value', 'refresh'))?.token.id).toBe(first.token.id);
      // Each value only as what it is.
      expect(await lookup(store).findOAuthToken('tgr_first-refresh-token-value', 'access')).toBeUndefined();
      expect(await lookup(store).findOAuthToken('tgo_first-access-token-value', 'refresh')).toBeUndefined();

      const cc = await oauth(store).saveOAuthToken({ accessToken: 'tgo_client-credentials-one', credentialId: credential.id, userId: null, scopes: [], accessExpiresAt: hour });
      const v = await lookup(store).version();
      const second = await oauth(store).saveOAuthToken({ accessToken: 'tgo_second-access-token-value', credentialId: credential.id, userId: user.id, scopes: ['read'], accessExpiresAt: hour });
      expect(second.replaced).toBe(1);
      expect(await lookup(store).findOAuthToken('tgo_first-access-token-value', 'access')).toBeUndefined();
      expect(await lookup(store).findOAuthToken('tgr_first-refresh-token-value', 'refresh')).toBeUndefined();
      // The client's own token (no user) is another pair: it stays.
      expect((await lookup(store).findOAuthToken('tgo_client-credentials-one', 'access'))?.token.id).toBe(cc.token.id);
      const changes = await lookup(store).changesSince(v);
      expect(changes.changes.filter((c) => c.entity === 'oauth_token').map((c) => c.id).sort()).toEqual([first.token.id, second.token.id].sort());

      now = new Date(hour.getTime() + 1);
      expect(await lookup(store).findOAuthToken('tgo_second-access-token-value', 'access')).toBeUndefined();
      // Revoked (the first) and fully expired (the second; the client's own had no refresh token) are deleted;
      // nothing is left that could be used.
      expect(await oauth(store).pruneOAuthTokens(now)).toBe(3);
      expect(await oauth(store).pruneOAuthTokens(now)).toBe(0);
    });

    it('revokes an OAuth2 grant by either token, only for the client it was issued to', async () => {
      const store = await fresh();
      await seed(store);
      const a = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', clientId: 'a' });
      const b = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', clientId: 'b' });
      const later = new Date(Date.now() + 3_600_000);
      await oauth(store).saveOAuthToken({ accessToken: 'tgo_access-of-client-a', refreshToken: 'tgr_refresh-of-client-a', credentialId: a.credential.id, userId: null, scopes: [], accessExpiresAt: later, refreshExpiresAt: later });
      expect(await oauth(store).revokeOAuthToken('tgr_refresh-of-client-a', b.credential.id)).toBe('other_client');
      expect(await lookup(store).findOAuthToken('tgo_access-of-client-a', 'access')).toBeDefined();
      expect(await oauth(store).revokeOAuthToken('tgr_refresh-of-client-a', a.credential.id)).toBe('revoked');
      expect(await lookup(store).findOAuthToken('tgo_access-of-client-a', 'access')).toBeUndefined();
      expect(await oauth(store).revokeOAuthToken('tgo_access-of-client-a', a.credential.id)).toBe('already_revoked');
      expect(await oauth(store).revokeOAuthToken('tgo_never-issued-token', a.credential.id)).toBe('unknown');

      await oauth(store).saveOAuthToken({ accessToken: 'tgo_access-two-of-a', credentialId: a.credential.id, userId: null, scopes: [], accessExpiresAt: later });
      await store.revokeCredential(a.credential.id);
      expect(await lookup(store).findOAuthToken('tgo_access-two-of-a', 'access')).toBeUndefined();
      expect(await store.revokeOAuthTokensOf(a.credential.id)).toBe(1);
    });

    it("gives the data plane views that read, count and issue tokens, and nothing more", async () => {
      const store = await fresh();
      await seed(store);
      const { secret } = await store.createCredential('demo', { kind: 'api_key' });
      const client = await store.createCredential('demo', { kind: 'oauth2_client', clientType: 'confidential', clientId: 'views' });
      const view = lookup(store);
      // The lookup answers what a request needs, and has no way to write.
      expect((await view.findCredential({ kind: 'api_key', key: secret! }))?.application.id).toBe('demo');
      for (const write of ['createApplication', 'revokeCredential', 'syncDeclared', 'recordUsage', 'saveOAuthToken', 'close']) expect(view).not.toHaveProperty(write);
      expect(Object.keys(usageSink(store))).toEqual(['recordUsage']);
      expect(Object.keys(counters(store)).sort()).toEqual(['addLimitCounters', 'loadLimitCounters', 'pruneLimitCounters']);
      // The OAuth2 endpoints check the client and issue through their own view; the token is then found by the lookup.
      const endpoints = oauth(store);
      expect(Object.keys(endpoints).sort()).toEqual(['findCredential', 'findOAuthToken', 'pruneOAuthTokens', 'revokeOAuthToken', 'saveOAuthToken', 'verifyUser']);
      expect((await endpoints.findCredential({ kind: 'oauth2_client', clientId: 'views', clientSecret: client.secret }))?.credential.id).toBe(client.credential.id);
      const later = new Date(Date.now() + 3_600_000);
      await endpoints.saveOAuthToken({ accessToken: 'tgo_issued-through-view', credentialId: client.credential.id, userId: null, scopes: [], accessExpiresAt: later });
      expect((await view.findOAuthToken('tgo_issued-through-view', 'access'))?.application.id).toBe('demo');
      // A view writes to the store it was made from.
      await usageSink(store).recordUsage([{ appId: 'demo', metric: 'hits', period: 'day', periodStart: new Date(), delta: 2 }]);
      expect((await store.getUsage('demo', { period: 'day' }))[0]?.value).toBe(2);
    });
  });
}
