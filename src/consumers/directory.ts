/**
 * The consumer directory: what the auth and rate-limit policies ask per request ("whose key is this?",
 * "what does plan X allow?"), answered from memory. A miss costs one store query, then the answer is cached;
 * every instance polls the store's change log (`changesSince`, every 250 ms by default) and evicts what
 * changed, so a revoked key, a key's new scopes or a suspended application take effect within a second everywhere.
 *
 * Keys are cached by the SHA-256 of what was presented, never by the secret itself. Unknown keys are cached
 * too (bounded), so a client repeating a wrong key does not cost a query per request; any credential change
 * clears that negative cache, so a key created a moment ago works at once.
 *
 * A store that is down or does not answer within `storeTimeoutMs` does not hang requests: what is cached
 * keeps working, and a request that needs the store gets 503 TG_STORE_UNAVAILABLE at once or when the bound
 * expires. A query that answers late still fills the cache, so the store's return is noticed by itself.
 *
 * Data plane: reads the store only through its read-only ConsumerLookup (src/store/types.ts), and imports
 * only the store's types and the error catalogue.
 */
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { Application, ApplicationState, ConsumerLookup, CredentialMatch, MappingRule, OAuthTokenMatch, Plan, PresentedCredential } from '../store/types.js';

const DEFAULT_REFRESH_MS = 250;
const DEFAULT_STORE_TIMEOUT_MS = 500;
/** A store that fails on the request path is logged at most this often. */
const STORE_ERROR_LOG_MS = 10_000;
/** Upper bound of cached unknown credentials; the whole negative cache is dropped when it is reached. */
const MAX_NEGATIVE = 10_000;
/** Upper bound of cached credentials; beyond it the oldest half is dropped (a Map iterates in insertion order). */
const MAX_POSITIVE = 100_000;

/** A consumer as the data plane sees it: small, immutable, cheap to copy. */
export interface DirectoryApp {
  id: string;
  planId: string;
  serviceId: string | null;
  state: ApplicationState;
}

interface KeyEntry {
  credentialId: string;
  appId: string;
  /** ms since epoch, or null. */
  expiresAt: number | null;
  scopes: KeyScopes;
}

/** A key's scopes; undefined: an unscoped key, which has every scope. */
type KeyScopes = readonly string[] | undefined;

export type LookupResult = { app: DirectoryApp; credentialId: string; scopes: KeyScopes } | undefined;

/** An active OAuth2 access token as the auth policy sees it. */
export interface TokenInfo {
  tokenId: string;
  /** The OAuth2 client's application. */
  app: DirectoryApp;
  scopes: readonly string[];
  clientId: string;
  userId: string | null;
}

interface TokenEntry {
  tokenId: string;
  appId: string;
  credentialId: string;
  scopes: readonly string[];
  clientId: string;
  userId: string | null;
  /** ms since epoch. */
  expiresAt: number;
}

/** Sync when the answer is cached (the common case), a Promise on a miss. */
export type MaybePromise<T> = T | Promise<T>;

export interface ConsumerDirectory {
  /** The application behind a presented key (undefined: unknown, revoked or expired). Suspended apps are returned. */
  lookup(presented: PresentedCredential): MaybePromise<LookupResult>;
  /** A user's application, for Basic auth (scrypt on a miss, so answers are cached by the hash of the pair). */
  verifyUser(username: string, password: string): MaybePromise<{ userId: string; app: DirectoryApp | undefined } | undefined>;
  /**
   * The OAuth2 access token behind a presented Bearer value (undefined: unknown, revoked or expired). Cached
   * by hash like keys; a revocation or a replacing token is seen at the next change poll.
   */
  lookupToken(accessToken: string): MaybePromise<TokenInfo | undefined>;
  application(id: string): MaybePromise<DirectoryApp | undefined>;
  plan(id: string): MaybePromise<Plan | undefined>;
  mappingRules(serviceId: string): MaybePromise<readonly MappingRule[]>;
  /** A service's metric names (`hits` included), undefined when there is no such service (3scale API). */
  serviceMetrics(serviceId: string): MaybePromise<ReadonlySet<string> | undefined>;
  /** Whether `token` is the service's token (3scale's service_token); answers cached by their hash. */
  verifyServiceToken(serviceId: string, token: string): MaybePromise<boolean>;
  /** Polls the change log once now (tests, and the poll timer). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** Node's one-shot digest (20.12+): about half the CPU of createHash().update().digest() for a short key. */
const oneShotHash = (crypto as unknown as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

function presentedHash(p: PresentedCredential): string {
  // The NUL-separated fields hashed as one string: the same digest the separate updates gave.
  let s: string;
  switch (p.kind) {
    case 'api_key':
    case 'user_key':
      s = `${p.kind}\0${p.key}`;
      break;
    case 'app_key':
      s = `app_key\0${p.appId}\0${p.appKey}`;
      break;
    case 'oauth2_client':
      s = `oauth2_client\0${p.clientId}\0${p.clientSecret ?? ''}`;
      break;
  }
  return oneShotHash ? oneShotHash('sha256', s, 'base64') : createHash('sha256').update(s).digest('base64');
}

function toApp(a: Application): DirectoryApp {
  return { id: a.id, planId: a.planId, serviceId: a.serviceId, state: a.state };
}

export interface DirectoryOptions {
  refreshMs?: number;
  /** How long a request waits for a store answer before it gets 503 (the query goes on and fills the cache). */
  storeTimeoutMs?: number;
  log?: Logger;
  now?: () => number;
}

class StoreDirectory implements ConsumerDirectory {
  readonly #store: ConsumerLookup;
  readonly #log: Logger | undefined;
  readonly #now: () => number;
  #cursor = 0;
  /** Bumped on every eviction: a lookup that started before it does not cache its (maybe stale) answer. */
  #gen = 0;
  readonly #keys = new Map<string, KeyEntry>();
  readonly #keysByCredential = new Map<string, string>();
  readonly #negative = new Set<string>();
  readonly #apps = new Map<string, DirectoryApp | undefined>();
  readonly #plans = new Map<string, Plan | undefined>();
  readonly #rules = new Map<string, readonly MappingRule[]>();
  readonly #users = new Map<string, { userId: string; appId: string | null }>();
  readonly #serviceMetrics = new Map<string, ReadonlySet<string> | undefined>();
  readonly #serviceTokens = new Map<string, boolean>();
  readonly #inflight = new Map<string, Promise<LookupResult>>();
  readonly #tokens = new Map<string, TokenEntry>();
  readonly #tokensById = new Map<string, string>();
  readonly #negativeTokens = new Set<string>();
  readonly #tokenInflight = new Map<string, Promise<TokenInfo | undefined>>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #followUp: Promise<void> | undefined;
  #pollFailures = 0;
  readonly #storeTimeoutMs: number;
  #lastStoreError = 0;

  constructor(store: ConsumerLookup, opts: DirectoryOptions) {
    this.#store = store;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#storeTimeoutMs = opts.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  }

  /**
   * `pending` within the store bound; a failure or timeout becomes the catalogue's 503. `timed: false` for
   * work that is slow by design (scrypt): only the driver's own timeouts bound it then.
   */
  #bounded<T>(pending: Promise<T>, timed = true): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      if (timed) timer = setTimeout(() => reject(new Error(`no answer within ${this.#storeTimeoutMs} ms`)), this.#storeTimeoutMs);
    });
    return Promise.race([pending, expired])
      .catch((err: unknown) => {
        if (err instanceof GatewayError) throw err;
        if (Date.now() - this.#lastStoreError > STORE_ERROR_LOG_MS) {
          this.#lastStoreError = Date.now();
          this.#log?.warn({ err: (err as Error).message }, 'the store failed on the request path; requests that need it get 503');
        }
        throw new GatewayError('TG_STORE_UNAVAILABLE', undefined, { cause: err });
      })
      .finally(() => clearTimeout(timer));
  }

  async start(refreshMs: number): Promise<void> {
    this.#cursor = await this.#store.version();
    this.#timer = setInterval(() => void this.refresh(), refreshMs);
    this.#timer.unref();
  }

  lookup(presented: PresentedCredential): MaybePromise<LookupResult> {
    const hash = presentedHash(presented);
    const entry = this.#keys.get(hash);
    if (entry) {
      if (entry.expiresAt !== null && entry.expiresAt <= this.#now()) return undefined;
      const app = this.#apps.get(entry.appId);
      if (app) return { app, credentialId: entry.credentialId, scopes: entry.scopes };
      if (!this.#apps.has(entry.appId)) {
        const got = this.application(entry.appId);
        const done = (a: DirectoryApp | undefined): LookupResult => (a ? { app: a, credentialId: entry.credentialId, scopes: entry.scopes } : undefined);
        return got instanceof Promise ? got.then(done) : done(got);
      }
      return undefined;
    }
    if (this.#negative.has(hash)) return undefined;
    let pending = this.#inflight.get(hash);
    if (!pending) {
      pending = this.#fetch(hash, presented).finally(() => this.#inflight.delete(hash));
      this.#inflight.set(hash, pending);
    }
    return this.#bounded(pending);
  }

  async #fetch(hash: string, presented: PresentedCredential): Promise<LookupResult> {
    const gen = this.#gen;
    const m: CredentialMatch | undefined = await this.#store.findCredential(presented);
    const scopes: KeyScopes = m?.credential.scopes.length ? m.credential.scopes : undefined;
    if (gen === this.#gen) {
      if (!m) {
        if (this.#negative.size >= MAX_NEGATIVE) this.#negative.clear();
        this.#negative.add(hash);
      } else {
        if (this.#keys.size >= MAX_POSITIVE) this.#trimKeys();
        this.#keys.set(hash, { credentialId: m.credential.id, appId: m.application.id, expiresAt: m.credential.expiresAt?.getTime() ?? null, scopes });
        this.#keysByCredential.set(m.credential.id, hash);
        this.#apps.set(m.application.id, toApp(m.application));
        if (m.plan && !this.#plans.has(m.plan.id)) this.#plans.set(m.plan.id, m.plan);
      }
    }
    return m ? { app: toApp(m.application), credentialId: m.credential.id, scopes } : undefined;
  }

  #trimKeys(): void {
    let n = this.#keys.size / 2;
    for (const [hash, e] of this.#keys) {
      if (n-- <= 0) break;
      this.#keys.delete(hash);
      this.#keysByCredential.delete(e.credentialId);
    }
  }

  lookupToken(accessToken: string): MaybePromise<TokenInfo | undefined> {
    const hash = createHash('sha256').update('oauth_token\0').update(accessToken).digest('base64');
    const entry = this.#tokens.get(hash);
    if (entry) {
      if (entry.expiresAt <= this.#now()) return undefined;
      const done = (app: DirectoryApp | undefined): TokenInfo | undefined =>
        app && { tokenId: entry.tokenId, app, scopes: entry.scopes, clientId: entry.clientId, userId: entry.userId };
      const app = this.application(entry.appId);
      return app instanceof Promise ? app.then(done) : done(app);
    }
    if (this.#negativeTokens.has(hash)) return undefined;
    let pending = this.#tokenInflight.get(hash);
    if (!pending) {
      pending = this.#fetchToken(hash, accessToken).finally(() => this.#tokenInflight.delete(hash));
      this.#tokenInflight.set(hash, pending);
    }
    return this.#bounded(pending);
  }

  async #fetchToken(hash: string, accessToken: string): Promise<TokenInfo | undefined> {
    const gen = this.#gen;
    const m: OAuthTokenMatch | undefined = await this.#store.findOAuthToken(accessToken, 'access');
    if (!m) {
      // Token values are random and saved before they are handed out: an unknown one never becomes valid.
      if (gen === this.#gen) {
        if (this.#negativeTokens.size >= MAX_NEGATIVE) this.#negativeTokens.clear();
        this.#negativeTokens.add(hash);
      }
      return undefined;
    }
    const t = m.token;
    const entry: TokenEntry = {
      tokenId: t.id,
      appId: m.application.id,
      credentialId: t.credentialId,
      scopes: t.scopes,
      clientId: t.clientId,
      userId: t.userId,
      expiresAt: t.accessExpiresAt.getTime(),
    };
    if (gen === this.#gen) {
      if (this.#tokens.size >= MAX_POSITIVE) {
        this.#tokens.clear();
        this.#tokensById.clear();
      }
      this.#tokens.set(hash, entry);
      this.#tokensById.set(t.id, hash);
      this.#apps.set(m.application.id, toApp(m.application));
      if (m.plan && !this.#plans.has(m.plan.id)) this.#plans.set(m.plan.id, m.plan);
    }
    return { tokenId: t.id, app: toApp(m.application), scopes: t.scopes, clientId: t.clientId, userId: t.userId };
  }

  verifyUser(username: string, password: string): MaybePromise<{ userId: string; app: DirectoryApp | undefined } | undefined> {
    const hash = createHash('sha256').update('user\0').update(username).update('\0').update(password).digest('base64');
    const cached = this.#users.get(hash);
    const withApp = (u: { userId: string; appId: string | null }) => {
      if (u.appId === null) return { userId: u.userId, app: undefined };
      const a = this.application(u.appId);
      return a instanceof Promise ? a.then((app) => ({ userId: u.userId, app })) : { userId: u.userId, app: a };
    };
    if (cached) return withApp(cached);
    const gen = this.#gen;
    const found = this.#store.verifyUser(username, password).then((user) => {
      if (!user) return undefined;
      const u = { userId: user.id, appId: user.applicationId };
      if (gen === this.#gen) this.#users.set(hash, u);
      return u;
    });
    // Not timed: a password check is ~100 ms of scrypt, and a burst of them queues on libuv's pool.
    return this.#bounded(found, false).then((u) => u && withApp(u));
  }

  application(id: string): MaybePromise<DirectoryApp | undefined> {
    if (this.#apps.has(id)) return this.#apps.get(id);
    const gen = this.#gen;
    return this.#bounded(
      this.#store.getApplication(id).then((a) => {
        const app = a && toApp(a);
        if (gen === this.#gen) this.#apps.set(id, app);
        return app;
      }),
    );
  }

  plan(id: string): MaybePromise<Plan | undefined> {
    if (this.#plans.has(id)) return this.#plans.get(id);
    const gen = this.#gen;
    return this.#bounded(
      this.#store.getPlan(id).then((p) => {
        if (gen === this.#gen) this.#plans.set(id, p);
        return p;
      }),
    );
  }

  mappingRules(serviceId: string): MaybePromise<readonly MappingRule[]> {
    const cached = this.#rules.get(serviceId);
    if (cached) return cached;
    const gen = this.#gen;
    return this.#bounded(
      this.#store.listMappingRules(serviceId).then((rules) => {
        if (gen === this.#gen) this.#rules.set(serviceId, rules);
        return rules;
      }),
    );
  }

  serviceMetrics(serviceId: string): MaybePromise<ReadonlySet<string> | undefined> {
    if (this.#serviceMetrics.has(serviceId)) return this.#serviceMetrics.get(serviceId);
    const gen = this.#gen;
    return this.#bounded(
      Promise.all([this.#store.getService(serviceId), this.#store.listMetrics(serviceId)]).then(([svc, metrics]) => {
        const names = svc ? new Set(['hits', ...metrics.map((m) => m.name)]) : undefined;
        if (gen === this.#gen) this.#serviceMetrics.set(serviceId, names);
        return names;
      }),
    );
  }

  verifyServiceToken(serviceId: string, token: string): MaybePromise<boolean> {
    const hash = createHash('sha256').update('service\0').update(serviceId).update('\0').update(token).digest('base64');
    const cached = this.#serviceTokens.get(hash);
    if (cached !== undefined) return cached;
    const gen = this.#gen;
    return this.#bounded(
      this.#store.verifyServiceToken(serviceId, token).then((ok) => {
        if (gen === this.#gen) {
          if (this.#serviceTokens.size >= MAX_NEGATIVE) this.#serviceTokens.clear();
          this.#serviceTokens.set(hash, ok);
        }
        return ok;
      }),
    );
  }

  refresh(): Promise<void> {
    // One poll at a time: a slow store must not pile up queries.
    if (!this.#polling) {
      this.#polling = this.#poll().finally(() => (this.#polling = undefined));
      return this.#polling;
    }
    // The running poll may have read the change log before the caller's write (a token just replaced or
    // revoked): one more poll follows it, shared by every caller meanwhile, so awaiting refresh() sees the write.
    this.#followUp ??= this.#polling.then(() => {
      this.#followUp = undefined;
      return this.refresh();
    });
    return this.#followUp;
  }

  async #poll(): Promise<void> {
    let set;
    try {
      set = await this.#store.changesSince(this.#cursor);
    } catch (err) {
      // Keep serving what is cached; say so once, then every 40 failures (~10 s).
      if (this.#pollFailures++ % 40 === 0) this.#log?.warn({ err: (err as Error).message }, 'cannot poll the store for changes; serving cached consumers');
      return;
    }
    if (this.#pollFailures) this.#log?.info('store reachable again');
    this.#pollFailures = 0;
    if (set.reset) this.#clearAll();
    else if (set.changes.length) {
      this.#gen++;
      for (const c of set.changes) this.#evict(c.entity, c.id);
    }
    this.#cursor = set.version;
  }

  #evict(entity: string, id: string): void {
    switch (entity) {
      case 'credential': {
        const hash = this.#keysByCredential.get(id);
        if (hash) {
          this.#keys.delete(hash);
          this.#keysByCredential.delete(id);
        }
        this.#negative.clear();
        // A revoked client takes its tokens with it.
        for (const [hash, t] of this.#tokens) {
          if (t.credentialId !== id) continue;
          this.#tokens.delete(hash);
          this.#tokensById.delete(t.tokenId);
        }
        break;
      }
      case 'oauth_token': {
        const hash = this.#tokensById.get(id);
        if (hash) {
          this.#tokens.delete(hash);
          this.#tokensById.delete(id);
        }
        break;
      }
      case 'application':
        this.#apps.delete(id);
        this.#negative.clear();
        break;
      case 'plan':
        this.#plans.delete(id);
        break;
      case 'user':
        this.#users.clear();
        break;
      case 'mapping_rule':
      case 'metric':
      case 'service':
        this.#rules.clear();
        this.#serviceMetrics.clear();
        this.#serviceTokens.clear();
        break;
    }
  }

  #clearAll(): void {
    this.#gen++;
    this.#keys.clear();
    this.#keysByCredential.clear();
    this.#negative.clear();
    this.#tokens.clear();
    this.#tokensById.clear();
    this.#negativeTokens.clear();
    this.#apps.clear();
    this.#plans.clear();
    this.#rules.clear();
    this.#users.clear();
    this.#serviceMetrics.clear();
    this.#serviceTokens.clear();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#followUp;
    await this.#polling;
  }
}

/** A directory over `store`, polling its change log every `refreshMs`. Close it before closing the store. */
export async function createConsumerDirectory(store: ConsumerLookup, opts: DirectoryOptions = {}): Promise<ConsumerDirectory> {
  const dir = new StoreDirectory(store, opts);
  await dir.start(opts.refreshMs ?? DEFAULT_REFRESH_MS);
  return dir;
}
