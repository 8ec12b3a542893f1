/**
 * The control-plane operations on consumers, one code path each: the CLI verbs call them on an open store
 * (`storeOperations`) or, given `--admin URL`, through a running gateway's admin API (src/admin/client.ts),
 * whose routes call `storeOperations` on the gateway's own store. Checks that are not the store's (the
 * application exists before listing its keys, a duration parses) live here, so both paths answer alike.
 */
import { checkScopes } from './validate.js';
import { StoreError } from './types.js';
import type { Application, ApplicationState, Credential, MappingRule, Metric, Period, Plan, PlanInput, Service, Store, UsageRow, User } from './types.js';

export interface ApplicationFilter {
  planId?: string;
  serviceId?: string;
  state?: ApplicationState;
}

export interface CreateApplicationOp {
  id?: string;
  planId: string;
  name?: string;
  serviceId?: string;
  description?: string;
  /** Also create an API key (its secret is in the answer, once). */
  withKey?: boolean;
  /** That key's scopes (absent or empty: every scope). */
  scopes?: string[];
}

export interface UpdateApplicationOp {
  name?: string;
  planId?: string;
  state?: ApplicationState;
  description?: string | null;
}

export interface CreateKeyOp {
  kind?: 'api_key' | 'user_key' | 'app_key';
  label?: string | null;
  /** A duration (30d, 12h) from now. */
  expires?: string;
  /** Scopes the routes' `auth.scopes` check (absent or empty: every scope). */
  scopes?: string[];
}

interface UsageOp {
  period: Period;
  metric?: string;
  /** Every past period, not only the current one. */
  all?: boolean;
}

type ServiceDetail = Service & { metrics: Metric[]; mappingRules: MappingRule[] };
type ApplicationDetail = Application & { credentials: Credential[] };

export interface Operations {
  createService(input: { id?: string; name?: string; token?: boolean }): Promise<{ service: Service; token?: string }>;
  listServices(): Promise<Service[]>;
  showService(id: string): Promise<ServiceDetail>;
  upsertPlan(input: PlanInput): Promise<Plan>;
  listPlans(): Promise<Plan[]>;
  showPlan(id: string): Promise<Plan>;
  createApplication(input: CreateApplicationOp): Promise<{ application: Application; key?: { credential: Credential; secret: string } }>;
  listApplications(filter?: ApplicationFilter): Promise<Application[]>;
  showApplication(id: string): Promise<ApplicationDetail>;
  updateApplication(id: string, patch: UpdateApplicationOp): Promise<Application>;
  /** Deletes an application and its keys. One the config declares is refused: the next sync would bring it back. */
  deleteApplication(id: string): Promise<Application>;
  createKey(applicationId: string, input: CreateKeyOp): Promise<{ credential: Credential; secret: string }>;
  listKeys(applicationId: string): Promise<Credential[]>;
  showKey(id: string): Promise<Credential>;
  revokeKey(id: string): Promise<Credential>;
  createUser(input: { username: string; password: string; applicationId?: string | null }): Promise<User>;
  listUsers(): Promise<User[]>;
  showUser(idOrUsername: string): Promise<User>;
  usage(applicationId: string, query: UsageOp): Promise<UsageRow[]>;
  close(): Promise<void>;
}

const found = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new StoreError('NOT_FOUND', `no ${what}`);
  return v;
};

/** The operations on an open store. `close` closes the store only when `owned`. */
export function storeOperations(store: Store, owned = false): Operations {
  const app = async (id: string) => found(await store.getApplication(id), `application ${id}`);
  return {
    async createService(input) {
      return store.createService({ id: input.id, name: input.name, token: input.token === false ? false : undefined });
    },
    listServices: () => store.listServices(),
    async showService(id) {
      const s = found(await store.getService(id), `service ${id}`);
      const [metrics, mappingRules] = await Promise.all([store.listMetrics(id), store.listMappingRules(id)]);
      return { ...s, metrics, mappingRules };
    },
    upsertPlan: (input) => store.upsertPlan(input),
    listPlans: () => store.listPlans(),
    async showPlan(id) {
      return found(await store.getPlan(id), `plan ${id}`);
    },
    async createApplication(input) {
      if (input.scopes !== undefined && !input.withKey) throw new StoreError('INVALID', 'scopes go with withKey (--with-key), or create the key with its scopes');
      const application = await store.createApplication({ id: input.id, planId: input.planId, name: input.name, serviceId: input.serviceId, description: input.description });
      if (!input.withKey) return { application };
      const { credential, secret } = await store.createCredential(application.id, { kind: 'api_key', scopes: input.scopes && checkScopes(input.scopes) });
      return { application, key: { credential, secret: secret! } };
    },
    listApplications: (filter = {}) => store.listApplications(filter),
    async showApplication(id) {
      const a = await app(id);
      return { ...a, credentials: await store.listCredentials(id) };
    },
    updateApplication: (id, patch) => store.updateApplication(id, patch),
    async deleteApplication(id) {
      const a = await app(id);
      if (a.origin === 'config') throw new StoreError('CONFLICT', `application ${id} is declared in the config: remove it there (a reload would bring it back)`);
      if (!(await store.deleteApplication(id))) throw new StoreError('NOT_FOUND', `no application ${id}`);
      return a;
    },
    async createKey(applicationId, input) {
      let expiresAt: Date | null = null;
      if (input.expires !== undefined) {
        // units.ts brings zod: loaded only when a key is given an expiry, not by every CLI verb.
        const { parseDuration } = await import('../lib/units.js');
        const ms = parseDuration(input.expires);
        if (!ms) throw new StoreError('INVALID', `--expires: expected a duration like 30d or 12h, got ${JSON.stringify(input.expires)}`);
        expiresAt = new Date(Date.now() + ms);
      }
      const kind = (input.kind ?? 'api_key');
      const { credential, secret } = await store.createCredential(applicationId, { kind, label: input.label ?? null, expiresAt, scopes: input.scopes && checkScopes(input.scopes) });
      return { credential, secret: secret! };
    },
    async listKeys(applicationId) {
      await app(applicationId);
      return store.listCredentials(applicationId);
    },
    async showKey(id) {
      return found(await store.getCredential(id), `key ${id}`);
    },
    async revokeKey(id) {
      if (!(await store.revokeCredential(id))) throw new StoreError('NOT_FOUND', `no key ${id}`);
      return found(await store.getCredential(id), `key ${id}`);
    },
    createUser: (input) => store.createUser({ username: input.username, password: input.password, applicationId: input.applicationId ?? null }),
    listUsers: () => store.listUsers(),
    async showUser(id) {
      return found(await store.getUser(id), `user ${id}`);
    },
    async usage(applicationId, q) {
      await app(applicationId);
      return store.getUsage(applicationId, { period: q.period, metric: q.metric, since: q.all ? undefined : new Date() });
    },
    async close() {
      if (owned) await store.close();
    },
  };
}
