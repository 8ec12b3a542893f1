/**
 * A 3scale-compatible Service Management API (https://github.com/3scale/apisonator's wire format), so existing
 * 3scale plugins (npm `3scale`, ThreeScalePY, Ruby `3scale_client`, APIcast) work against Tollgate unchanged:
 * GET /transactions/authorize.xml, authrep.xml, oauth_authorize.xml, oauth_authrep.xml and POST /transactions.xml.
 *
 * Served as routes of their own (src/config/compile.ts prepends them when `threescale.enabled`), each with one
 * hook that answers by itself with a Reply: the proxy handler knows nothing about 3scale.
 *
 * One set of counters: authorize reads, and authrep and report add to, the same limiter counters the
 * `rate-limit` policy counts plan limits in (planCounterKey), and authrep/report record usage through the
 * same usage counter as the `usage` policy. An application used through the proxy and through authrep sees
 * one usage and one limit.
 *
 * Errors are 3scale's `<error code="…">message</error>` (a deliberate exception to the JSON catalogue: the
 * plugins parse this shape), with 3scale's statuses; 422 only for usage_value_invalid (the Node client kills
 * its host process on other statuses it does not expect). Messages never echo a presented secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { DirectoryApp } from '../../consumers/directory.js';
import { GatewayError } from '../../errors.js';
import { nextPeriodStart, periodStart } from '../../store/periods.js';
import type { Plan, UsageLimit } from '../../store/types.js';
import type { ConsumerServices } from '../../consumers/services.js';
import { planCounterKey } from '../rate-limit/policy.js';
import type { Exchange, PolicyHooks, Reply } from '../types.js';
import { BadParams, group, parseParams, str } from './params.js';
import type { ParamTree } from './params.js';
import type { ThreescaleConfig } from './schema.js';
import { CONTENT_TYPE, errorXml, statusXml } from './xml.js';
import type { UsageReport } from './xml.js';

/** 3scale's reason text; Ruby's `limits_exceeded?` compares it literally. */
const LIMITS_EXCEEDED = 'usage limits are exceeded';
/** Largest usage value accepted (counters are integers in Redis and JS). */
const MAX_USAGE = Number.MAX_SAFE_INTEGER;

/** An answer in 3scale's error shape. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const err = (status: number, code: string, message: string) => new ApiError(status, code, message);

type Endpoint = 'authorize' | 'authrep' | 'oauth_authorize' | 'oauth_authrep' | 'report';

export interface ThreescaleEndpoint {
  name: Endpoint;
  /** Exact path, with the configured prefix. */
  path: string;
  method: 'GET' | 'POST';
  hooks: PolicyHooks;
}

export interface ThreescaleApiOptions {
  config: ThreescaleConfig;
  /** Per-service provider keys from `services.<id>.providerKey` (empty values ignored). */
  serviceProviderKeys: Record<string, string | undefined>;
  consumers: ConsumerServices | undefined;
  log: Logger;
  now?: () => number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

interface Options3scale {
  rejectionReason: boolean;
  limitHeaders: boolean;
}

/** The `3scale-options` request header: `rejection_reason_header=1&limit_headers=1`. */
function readOptions(ex: Exchange): Options3scale {
  const raw = ex.headers['3scale-options'];
  if (raw === undefined) return { rejectionReason: false, limitHeaders: false };
  let tree: ParamTree;
  try {
    tree = parseParams(Array.isArray(raw) ? raw.join('&') : raw);
  } catch {
    return { rejectionReason: false, limitHeaders: false };
  }
  const on = (v: string | undefined) => v !== undefined && v !== '0' && v.toLowerCase() !== 'false';
  return { rejectionReason: on(str(tree, 'rejection_reason_header')), limitHeaders: on(str(tree, 'limit_headers')) };
}

function xmlReply(status: number, body: string, extra?: Record<string, string>): Reply {
  const buf = Buffer.from(body);
  return { status, headers: { 'content-type': CONTENT_TYPE, 'content-length': String(buf.length), ...extra }, body: buf };
}

/** Reads a report body (already bounded by the route's maxBodySize). */
async function readBody(body: Exchange['body']): Promise<string> {
  if (body === null) return '';
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('latin1');
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  // latin1 keeps every byte; percent-decoding then reads UTF-8 sequences from %XX escapes.
  return Buffer.concat(chunks).toString('latin1');
}

/** Report timestamps: ISO 8601, or 3scale's `YYYY-MM-DD HH:MM:SS +0000` (Python, Ruby). */
export function parseTimestamp(s: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(s.trim());
  if (!m) return undefined;
  const zone = m[3] === undefined || m[3].toUpperCase() === 'Z' ? 'Z' : `${m[3].slice(0, 3)}:${m[3].slice(-2)}`;
  const t = Date.parse(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(t) ? undefined : t;
}

interface Window {
  limit: UsageLimit;
  key: string;
  start: number;
  end: number | null;
  ttl: number;
}

function windowOf(appId: string, limit: UsageLimit, at: number, now: number): Window {
  const d = new Date(at);
  const start = periodStart(limit.period, d).getTime();
  const end = nextPeriodStart(limit.period, d)?.getTime() ?? null;
  // As the rate-limit policy: the counter lives until its window ends (plus a second), eternity for ever.
  return { limit, key: planCounterKey(appId, limit.metric, limit.period, start), start, end, ttl: end === null ? 0 : Math.ceil((end - now) / 1000) + 1 };
}

export function createThreescaleApi(opts: ThreescaleApiOptions): ThreescaleEndpoint[] {
  const { config, consumers, log } = opts;
  const now = opts.now ?? Date.now;
  const accountKey = config.providerKey ? digest(config.providerKey) : undefined;
  const serviceKeys = new Map<string, Buffer>();
  for (const [id, k] of Object.entries(opts.serviceProviderKeys)) if (k) serviceKeys.set(id, digest(k));
  // With a provider_key and no service_id, 3scale uses the account's default service: here the service the
  // key belongs to, or the only service with a key.
  const onlyService = serviceKeys.size === 1 ? [...serviceKeys.keys()][0] : undefined;

  /** Checks the provider's credentials; returns the service id. */
  async function authenticate(svc: ConsumerServices, p: ParamTree): Promise<{ serviceId: string; metrics: ReadonlySet<string> }> {
    const token = str(p, 'service_token');
    const providerKey = str(p, 'provider_key');
    let serviceId = str(p, 'service_id');
    if (!token && !providerKey) throw err(403, 'provider_key_or_service_token_required', 'provider key or service token are required');
    if (token) {
      if (!serviceId) throw err(403, 'service_id_missing', 'service id is missing');
      if (!(await svc.directory.verifyServiceToken(serviceId, token))) throw err(403, 'service_token_invalid', 'service token or service id is invalid');
    } else {
      const presented = digest(providerKey ?? '');
      const owner = [...serviceKeys].find(([, k]) => timingSafeEqual(k, presented))?.[0];
      const account = accountKey !== undefined && timingSafeEqual(accountKey, presented);
      serviceId ??= owner ?? (account ? onlyService : undefined);
      if (!account && (owner === undefined || owner !== serviceId)) throw err(403, 'provider_key_invalid', 'provider key is invalid');
      if (!serviceId) throw err(403, 'service_id_missing', 'service id is missing');
    }
    const metrics = await svc.directory.serviceMetrics(serviceId);
    if (!metrics) throw err(404, 'service_id_invalid', `service id "${serviceId}" is invalid`);
    return { serviceId, metrics };
  }

  const notFound = (appId: string) => err(404, 'application_not_found', `application with id="${appId}" was not found`);

  /** The application a call or transaction names. `needKey`: app_id calls must present a valid app_key. */
  async function application(svc: ConsumerServices, p: ParamTree, serviceId: string, mode: 'key' | 'oauth' | 'report'): Promise<DirectoryApp> {
    const appId = str(p, 'app_id');
    const userKey = str(p, 'user_key');
    const inService = (a: DirectoryApp | undefined) => a !== undefined && (a.serviceId === null || a.serviceId === serviceId);
    if (appId) {
      const app = await svc.directory.application(appId);
      if (!app || !inService(app)) throw notFound(appId);
      if (mode !== 'key') return app;
      const appKey = str(p, 'app_key');
      // Stricter than 3scale for keyless applications: the store cannot tell whether an application has keys
      // without a query per call, and an app_id alone must not be enough to spend an application's quota.
      if (!appKey) throw err(403, 'application_key_invalid', 'application key is missing');
      const m = await svc.directory.lookup({ kind: 'app_key', appId, appKey });
      if (!m || m.app.id !== appId) throw err(403, 'application_key_invalid', 'application key is invalid');
      return m.app;
    }
    if (userKey && mode !== 'oauth') {
      const m = await svc.directory.lookup({ kind: 'user_key', key: userKey });
      if (!m || !inService(m.app)) throw err(403, 'user_key_invalid', 'user key is invalid');
      return m.app;
    }
    const accessToken = mode === 'oauth' ? str(p, 'access_token') : undefined;
    if (accessToken) {
      // A token of Tollgate's own OAuth2 provider (oauth2:), through the consumer directory like a Bearer call.
      const t = await svc.directory.lookupToken(accessToken);
      if (!t || !inService(t.app)) throw err(404, 'access_token_invalid', 'access token is invalid or expired');
      return t.app;
    }
    if (userKey) throw err(403, 'user_key_invalid', 'user key is invalid');
    throw err(404, 'application_not_found', mode === 'oauth' ? 'app_id or access_token is required' : 'app_id or user_key is required');
  }

  /** `usage[metric]=N`: metric names checked against the service, values non-negative integers. */
  function readUsage(p: ParamTree, metrics: ReadonlySet<string>): Map<string, number> | undefined {
    const g = group(p, 'usage');
    if (!g) return undefined;
    const out = new Map<string, number>();
    for (const [metric, v] of Object.entries(g)) {
      if (typeof v !== 'string' || !/^\d{1,16}$/.test(v.trim()) || Number(v) > MAX_USAGE) {
        throw err(422, 'usage_value_invalid', `usage value ${JSON.stringify(typeof v === 'string' ? v : '(group)')} for metric "${metric}" is invalid`);
      }
      if (!metrics.has(metric)) throw err(404, 'metric_invalid', `metric "${metric}" is invalid`);
      out.set(metric, Number(v));
    }
    return out;
  }

  async function planOf(svc: ConsumerServices, app: DirectoryApp): Promise<Plan | undefined> {
    return svc.directory.plan(app.planId);
  }

  function limitHeaders(reports: readonly UsageReport[], at: number): Record<string, string> {
    let tight: UsageReport | undefined;
    let left = Infinity;
    for (const r of reports) {
      const l = Math.max(0, r.max - r.current);
      if (l < left) {
        left = l;
        tight = r;
      }
    }
    if (!tight) return { '3scale-limit-remaining': '-1', '3scale-limit-reset': '-1' };
    return {
      '3scale-limit-remaining': String(left),
      '3scale-limit-reset': tight.end === undefined ? '-1' : String(Math.max(0, Math.ceil((tight.end - at) / 1000))),
      '3scale-limit-max-value': String(tight.max),
    };
  }

  /** authorize, authrep and their oauth_ forms. */
  async function authorizeCall(svc: ConsumerServices, ex: Exchange, kind: Endpoint, o: Options3scale): Promise<Reply> {
    const p = parseParams(ex.query);
    const { serviceId, metrics } = await authenticate(svc, p);
    const oauth = kind === 'oauth_authorize' || kind === 'oauth_authrep';
    const app = await application(svc, p, serviceId, oauth ? 'oauth' : 'key');
    const usage = readUsage(p, metrics);
    const plan = await planOf(svc, app);
    const t = now();
    const windows = (plan?.limits ?? []).map((l) => windowOf(app.id, l, t, t));
    const predicted = (w: Window) => usage?.get(w.limit.metric) ?? 0;
    const report = kind === 'authrep' || kind === 'oauth_authrep';
    const reports: UsageReport[] = [];
    let authorized = app.state === 'active';
    let reason = authorized ? undefined : 'application is not active';

    const { limiter } = svc;
    const touched = report && authorized ? windows.filter((w) => predicted(w) > 0) : [];
    let counts: number[] = [];
    try {
      if (touched.length) {
        counts = limiter.consumeMany
          ? await limiter.consumeMany(touched.map((w) => ({ key: w.key, points: predicted(w), ttlSeconds: w.ttl })))
          : await Promise.all(touched.map(async (w) => (await limiter.consume(w.key, predicted(w), w.ttl)).count));
      }
      const others = windows.filter((w) => !touched.includes(w));
      // eslint-disable-next-line @typescript-eslint/await-thenable -- a memory peek is a plain number
      const peeked = await Promise.all(others.map((w) => limiter.peek(w.key)));
      const current = new Map<Window, number>();
      touched.forEach((w, i) => current.set(w, counts[i]));
      others.forEach((w, i) => current.set(w, peeked[i]));
      // authorize: refused when the predicted usage would pass a limit; authrep: when the usage just added did.
      let exceeded = false;
      for (const w of windows) {
        const c = current.get(w) ?? 0;
        const over = report && touched.includes(w) ? c > w.limit.max : c + predicted(w) > w.limit.max;
        if (over) exceeded = true;
        reports.push({ metric: w.limit.metric, period: w.limit.period, start: w.end === null ? undefined : w.start, end: w.end ?? undefined, max: w.limit.max, current: c, exceeded: over });
      }
      if (exceeded && touched.length) {
        // Refused: nothing of this call counts (3scale's authrep reports only authorized calls).
        // eslint-disable-next-line @typescript-eslint/await-thenable -- a memory refund returns nothing
        await Promise.all(touched.map((w) => limiter.refund(w.key, predicted(w), w.ttl)));
        for (const r of reports) {
          const w = touched.find((x) => x.limit.metric === r.metric && x.limit.period === r.period);
          if (w) r.current -= predicted(w);
        }
      }
      if (exceeded && authorized) {
        authorized = false;
        reason = LIMITS_EXCEEDED;
      }
    } catch (e) {
      if (e instanceof ApiError) throw e;
      log.warn({ err: (e as Error).message }, '3scale API: the limiter store failed');
      throw err(503, 'limits_unavailable', 'limit counters are unavailable, try again');
    }
    if (report && authorized && usage) for (const [metric, n] of usage) if (n > 0) svc.usage.add(app.id, metric, n);

    const headers: Record<string, string> = {};
    if (o.limitHeaders) Object.assign(headers, limitHeaders(reports, t));
    if (o.rejectionReason && !authorized) headers['3scale-rejection-reason'] = reason === LIMITS_EXCEEDED ? 'limits_exceeded' : 'application_not_active';
    const doc = statusXml({
      authorized,
      reason,
      plan: plan?.name ?? app.planId,
      reports,
      // The key and redirect URL are not known here (keys are stored hashed, OAuth clients hold redirect URIs): empty, present.
      application: oauth ? { id: app.id, key: '', redirectUrl: '' } : undefined,
    });
    return xmlReply(authorized ? 200 : 409, doc, headers);
  }

  async function reportCall(svc: ConsumerServices, ex: Exchange): Promise<Reply> {
    const type = ex.headers['content-type'];
    const ct = (Array.isArray(type) ? type[0] : type ?? '').split(';')[0].trim().toLowerCase();
    if (ct && ct !== 'application/x-www-form-urlencoded') throw err(400, 'bad_request', 'expected an application/x-www-form-urlencoded body');
    const p = parseParams(ex.query);
    parseParams(await readBody(ex.body), p);
    const { serviceId, metrics } = await authenticate(svc, p);
    const txs = group(p, 'transactions');
    if (!txs) throw err(400, 'bad_request', 'no transactions to report (transactions[0][app_id]=…&transactions[0][usage][hits]=1)');
    const list = Object.entries(txs);
    if (list.length > config.maxTransactions) throw err(400, 'bad_request', `at most ${config.maxTransactions} transactions per report`);
    const t = now();
    // 3scale accepts a report (202) and then drops the transactions it cannot count; so here, with a warning.
    let dropped = 0;
    const problems = new Set<string>();
    const increments: { key: string; points: number; ttlSeconds: number }[] = [];
    const usageAdds: { appId: string; metric: string; n: number; at: number }[] = [];
    for (const [, tx] of list) {
      if (typeof tx === 'string') throw err(400, 'bad_request', 'each transaction must be a group: transactions[0][app_id]=…');
      let at = t;
      try {
        const ts = str(tx, 'timestamp');
        if (ts) {
          const parsed = parseTimestamp(ts);
          if (parsed === undefined) throw err(400, 'bad_request', 'timestamp is invalid');
          at = Math.min(parsed, t);
        }
        const app = await application(svc, tx, serviceId, 'report');
        const usage = readUsage(tx, metrics);
        if (!usage || app.state !== 'active') {
          dropped++;
          problems.add(!usage ? 'no usage' : 'application is not active');
          continue;
        }
        const plan = await planOf(svc, app);
        for (const l of plan?.limits ?? []) {
          const n = usage.get(l.metric);
          if (!n) continue;
          const w = windowOf(app.id, l, at, t);
          // A window already over needs no counter; its usage is still recorded below.
          if (w.end === null || w.end > t) increments.push({ key: w.key, points: n, ttlSeconds: w.ttl });
        }
        for (const [metric, n] of usage) if (n > 0) usageAdds.push({ appId: app.id, metric, n, at });
      } catch (e) {
        if (!(e instanceof ApiError) || e.code === 'bad_request') throw e;
        dropped++;
        problems.add(e.code);
      }
    }
    const { limiter } = svc;
    try {
      if (increments.length) {
        if (limiter.consumeMany) await limiter.consumeMany(increments);
        else for (const i of increments) await limiter.consume(i.key, i.points, i.ttlSeconds);
      }
    } catch (e) {
      log.warn({ err: (e as Error).message }, '3scale API: the limiter store failed');
      throw err(503, 'limits_unavailable', 'limit counters are unavailable, try again');
    }
    for (const u of usageAdds) svc.usage.add(u.appId, u.metric, u.n, u.at);
    if (dropped) ex.log.warn({ service: serviceId, dropped, of: list.length, problems: [...problems] }, '3scale report: transactions dropped');
    return { status: 202, headers: { 'content-type': CONTENT_TYPE, 'content-length': '0' }, body: null };
  }

  const hooksFor = (kind: Endpoint): PolicyHooks => ({
    async onRequest(ex) {
      const o = readOptions(ex);
      try {
        if (!consumers) throw new GatewayError('TG_INTERNAL', 'The 3scale API has no consumer store.');
        return kind === 'report' ? await reportCall(consumers, ex) : await authorizeCall(consumers, ex, kind, o);
      } catch (e) {
        const api = e instanceof ApiError ? e : e instanceof BadParams ? err(400, 'bad_request', e.message) : undefined;
        if (!api) {
          // Store outages keep their 503; anything else is a bug, answered in the XML shape all the same.
          const ge = e instanceof GatewayError ? e : undefined;
          if (!ge || ge.status >= 500) log.warn({ err: (e as Error).message }, '3scale API call failed');
          const status = ge?.code === 'TG_STORE_UNAVAILABLE' ? 503 : ge && ge.status < 500 ? 400 : 500;
          return xmlReply(status, errorXml(status === 503 ? 'store_unavailable' : status === 400 ? 'bad_request' : 'internal_error', status === 500 ? 'internal error' : (e as Error).message));
        }
        return xmlReply(api.status, errorXml(api.code, api.message), o.rejectionReason ? { '3scale-rejection-reason': api.code } : undefined);
      }
    },
  });

  const base = config.prefix.replace(/\/+$/, '');
  const endpoints: [Endpoint, string, 'GET' | 'POST'][] = [
    ['authorize', '/transactions/authorize.xml', 'GET'],
    ['authrep', '/transactions/authrep.xml', 'GET'],
    ['oauth_authorize', '/transactions/oauth_authorize.xml', 'GET'],
    ['oauth_authrep', '/transactions/oauth_authrep.xml', 'GET'],
    ['report', '/transactions.xml', 'POST'],
  ];
  return endpoints.map(([name, path, method]) => ({ name, path: base + path, method, hooks: hooksFor(name) }));
}
