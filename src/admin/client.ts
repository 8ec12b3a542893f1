/**
 * The admin API from the CLI's side: the same {@link Operations} as an open store, carried over HTTP to a
 * running gateway (`--admin URL` or TOLLGATE_ADMIN_URL, token from --admin-token or TOLLGATE_ADMIN_TOKEN).
 * Answers are turned back into what the store returns (dates as Date, catalogue errors as StoreError), so
 * the verbs print the same lines and --json either way.
 */
import { StoreError } from '../store/index.js';
import type { Operations } from '../store/operations.js';

const DATE_KEY = /At$|^periodStart$/;
const revive = (key: string, v: unknown): unknown => (typeof v === 'string' && DATE_KEY.test(key) && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(v) ? new Date(v) : v);

const STORE_CODES: Record<string, StoreError['code']> = { TG_NOT_FOUND: 'NOT_FOUND', TG_CONFLICT: 'CONFLICT', TG_VALIDATION_FAILED: 'INVALID' };

export interface AdminClient {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Every page of a list. */
  all<T>(path: string): Promise<T[]>;
}

export function adminClient(baseUrl: string, token: string | undefined): AdminClient {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach the admin API at ${base}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    const text = await res.text();
    let doc: unknown;
    try {
      doc = text ? JSON.parse(text, function (this: unknown, k, v: unknown) { return revive(k, v); }) : undefined;
    } catch {
      throw new Error(`admin API at ${base} answered ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      const err = (doc ?? {}) as { error?: string; code?: string };
      const message = err.error ?? `HTTP ${res.status}`;
      if (err.code && STORE_CODES[err.code]) throw new StoreError(STORE_CODES[err.code], message);
      throw new Error(res.status === 401 ? `admin API: ${message} (set TOLLGATE_ADMIN_TOKEN or --admin-token)` : `admin API: ${message}`);
    }
    return doc as T;
  };
  return {
    call,
    async all<T>(path: string): Promise<T[]> {
      const out: T[] = [];
      let next: string | null = path + (path.includes('?') ? '&' : '?') + 'page_size=500';
      while (next) {
        const page: { results: T[]; next: string | null } = await call('GET', next);
        out.push(...page.results);
        next = page.next;
      }
      return out;
    },
  };
}

const q = (params: Record<string, string | boolean | undefined>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) s.set(k, String(v));
  const t = s.toString();
  return t ? `?${t}` : '';
};
const seg = encodeURIComponent;

export function adminOperations(baseUrl: string, token: string | undefined): Operations {
  const c = adminClient(baseUrl, token);
  return {
    async createService(input) {
      const { token: t, ...service } = await c.call<Record<string, unknown>>('POST', '/api/services', input);
      return { service: service as never, ...(typeof t === 'string' ? { token: t } : {}) };
    },
    listServices: () => c.all('/api/services'),
    showService: (id) => c.call('GET', `/api/services/${seg(id)}`),
    upsertPlan: (input) => c.call('POST', '/api/plans', input),
    listPlans: () => c.all('/api/plans'),
    showPlan: (id) => c.call('GET', `/api/plans/${seg(id)}`),
    createApplication: (input) => c.call('POST', '/api/applications', input),
    listApplications: (f = {}) => c.all(`/api/applications${q({ plan: f.planId, service: f.serviceId, state: f.state })}`),
    showApplication: (id) => c.call('GET', `/api/applications/${seg(id)}`),
    updateApplication: (id, patch) => c.call('PATCH', `/api/applications/${seg(id)}`, patch),
    deleteApplication: (id) => c.call('DELETE', `/api/applications/${seg(id)}`),
    async createKey(app, input) {
      const { secret, ...credential } = await c.call<Record<string, unknown>>('POST', `/api/applications/${seg(app)}/keys`, input);
      return { credential: credential as never, secret: secret as string };
    },
    listKeys: (app) => c.all(`/api/applications/${seg(app)}/keys`),
    showKey: (id) => c.call('GET', `/api/keys/${seg(id)}`),
    revokeKey: (id) => c.call('POST', `/api/keys/${seg(id)}/revoke`),
    createUser: (input) => c.call('POST', '/api/users', input),
    listUsers: () => c.all('/api/users'),
    showUser: (id) => c.call('GET', `/api/users/${seg(id)}`),
    usage: (app, u) => c.all(`/api/usage${q({ application: app, period: u.period, metric: u.metric, all: u.all ? true : undefined })}`),
    close: async () => {},
  };
}
