/**
 * examples/3scale.yaml as shipped, against what real 3scale plugins send and parse:
 * - every request captured from npm `3scale` 0.7.6, ThreeScalePY 2.6.0 and Ruby `3scale_client` 2.11.0
 *   (shared fixtures) is replayed, and each answer is checked for what that client reads from it;
 * - the npm `3scale` client itself runs against the gateway (it only speaks HTTPS: a TLS terminator on
 *   loopback with a certificate made for this run stands in for the load balancer in front of Tollgate).
 * The fixtures also use an OAuth app and an app whose plan allows 0 hits a day: the test adds those two to a
 * copy of the example; everything else is the file as shipped.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { globalAgent } from 'node:https';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { awayFromMinuteBoundary } from '../helpers/clock.js';
import { closeAll, send, startTestGateway } from '../helpers/gateway.js';
import type { SendResult, TestGateway } from '../helpers/gateway.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/3scale.yaml', import.meta.url));
const FIXTURES = '/work/shared/fixtures/client-requests';
const SERVICE = '2555417777777';
const ENV = {
  THREESCALE_SERVICE_TOKEN: 'SERVICE-TOKEN-0001',
  THREESCALE_PROVIDER_KEY: 'PROVIDER-KEY-0001',
  DEMO_APP_KEY: 'DEMO-APP-KEY',
  DEMO_USER_KEY: 'DEMO-USER-KEY',
};
const CONTENT_TYPE = 'application/vnd.3scale-v2.0+xml';

interface Captured {
  client: string;
  method: string;
  url: string;
  rawHeaders: string[];
  body: string;
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false });
type Node = Record<string, unknown>;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-3scale-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(closeAll);

/** The example, plus the fixtures' `oauth-app` and `limited-app` (0 hits a day, key LIMITED-APP-KEY). */
function configWithFixtureApps(): string {
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as { plans: Record<string, unknown>; applications: unknown[] };
  doc.plans.closed = { name: 'Closed', service: SERVICE, limits: { hits: [{ per: 'day', max: 0 }] } };
  doc.applications.push({ id: 'oauth-app', plan: 'basic', service: SERVICE }, { id: 'limited-app', plan: 'closed', service: SERVICE, appKeys: ['LIMITED-APP-KEY'] });
  const file = join(dir, `3scale-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

async function boot(configFile = EXAMPLE, env: Record<string, string> = ENV): Promise<TestGateway> {
  const store = `sqlite:${join(dir, `${Math.random().toString(36).slice(2)}.db`)}`;
  return startTestGateway('', { configFile, env: { ...process.env, ...env, TOLLGATE_STORE: store, TOLLGATE_REDIS_URL: '' } });
}

function fixtures(client: string): Captured[] {
  return readFileSync(join(FIXTURES, `3scale-${client}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Captured);
}

/** What every 3scale client needs from an answer, per the clients' sources (issue 10). */
function checkParsable(client: string, req: Captured, r: SendResult): void {
  const where = `${client} ${req.method} ${req.url.slice(0, 60)}`;
  const body = r.body.toString();
  if (client === 'node') expect([200, 202, 409, 400, 401, 402, 403, 404, 405, 406, 407, 408], where).toContain(r.status);
  if (req.method === 'POST') {
    // The Node client's report waits for ever unless it gets exactly 202 (or 403).
    expect([202, 403], `${where} ${r.body.toString()}`).toContain(r.status);
  }
  if (r.status === 202) {
    expect(body, where).toBe('');
    return;
  }
  expect(r.headers['content-type'], where).toBe(CONTENT_TYPE);
  const doc = xml.parse(body) as Node;
  if (r.status === 200 || r.status === 409) {
    const status = doc.status as Node;
    // Python and Ruby crash without <authorized> or <plan>; Python decides from HTTP 200 alone.
    expect(status.authorized, where).toBe(r.status === 200 ? 'true' : 'false');
    expect(typeof status.plan === 'string' && status.plan !== '', where).toBe(true);
    // Ruby crashes on a denial without <reason>.
    if (r.status === 409) expect(typeof status.reason === 'string' && status.reason !== '', where).toBe(true);
    if (req.url.includes('/oauth_')) {
      const app = status.application as Node;
      expect(app, where).toBeDefined();
      expect(Object.keys(app), where).toEqual(expect.arrayContaining(['id', 'key', 'redirect_url']));
    }
  } else {
    // Ruby crashes on a 4xx without <error code=…>.
    const error = doc.error as Node;
    expect(typeof error['@code'] === 'string' && error['@code'] !== '', where).toBe(true);
  }
}

const EXPECTED: Record<string, number[]> = {
  // authorize ok, wrong key, unknown app, user_key, authrep app, authrep user_key, oauth_authorize, oauth_authrep,
  // report, report with a wrong provider key, report for limited-app, authorize limited-app.
  node: [200, 403, 404, 200, 200, 200, 200, 200, 202, 403, 202, 409],
  python: [200, 403, 404, 200, 200, 200, 200, 202, 202, 409],
  ruby: [200, 403, 404, 200, 200, 200, 200, 202, 403, 202, 409],
};

describe('examples/3scale.yaml', () => {
  it('starts with only THREESCALE_SERVICE_TOKEN, DEMO_APP_KEY and DEMO_USER_KEY set, and Basic allows 5 hits a minute', async () => {
    await awayFromMinuteBoundary(10_000);
    const gw = await boot(EXAMPLE, { THREESCALE_SERVICE_TOKEN: 'st-for-the-example', DEMO_APP_KEY: 'ak-for-the-example', DEMO_USER_KEY: 'uk-for-the-example' });
    const q = `service_token=st-for-the-example&service_id=${SERVICE}&app_id=demo-app&app_key=ak-for-the-example&usage%5Bhits%5D=1`;
    const codes: number[] = [];
    let last: SendResult | undefined;
    for (let i = 0; i < 6; i++) {
      last = await send(gw.url, { path: `/transactions/authrep.xml?${q}` });
      codes.push(last.status);
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 409]);
    const status = (xml.parse(last!.body.toString()) as Node).status as Node;
    expect(status.reason).toBe('usage limits are exceeded');
    expect(status.plan).toBe('Basic');
    const reports = (status.usage_reports as Node).usage_report as Node[];
    expect(reports.map((r) => [r['@metric'], r['@period'], r.max_value, r.current_value, r['@exceeded']])).toEqual([
      ['hits', 'minute', '5', '5', 'true'],
      ['hits', 'day', '1000', '5', undefined],
    ]);
    expect(reports[0].period_start).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:00 \+0000$/);
    // The user_key application has its own counters.
    const u = await send(gw.url, { path: `/transactions/authorize.xml?service_token=st-for-the-example&service_id=${SERVICE}&user_key=uk-for-the-example` });
    expect(u.status).toBe(200);
    // No provider key configured: a provider_key call is refused.
    const pk = await send(gw.url, { path: `/transactions/authorize.xml?provider_key=anything-at-all&service_id=${SERVICE}&user_key=uk-for-the-example` });
    expect(pk.status).toBe(403);
    expect(pk.body.toString()).toContain('<error code="provider_key_invalid">');
  });

  for (const client of ['node', 'python', 'ruby']) {
    it(`answers every request the ${client} client sends with what it parses`, async () => {
      await awayFromMinuteBoundary(10_000);
      const gw = await boot(configWithFixtureApps());
      const lines = fixtures(client);
      const statuses: number[] = [];
      for (const req of lines) {
        const body = req.body ? Buffer.from(req.body, 'latin1') : undefined;
        // The captures' credentials were renamed after capture, so their Content-Length no longer fits the body.
        const headers = req.rawHeaders.map((v, i) => (i % 2 === 1 && req.rawHeaders[i - 1].toLowerCase() === 'content-length' ? String(body?.length ?? 0) : v));
        const r = await send(gw.url, { method: req.method, path: req.url, headers, body });
        statuses.push(r.status);
        checkParsable(client, req, r);
        if (r.status === 409) {
          // Ruby's limits_exceeded? compares this text.
          const status = (xml.parse(r.body.toString()) as Node).status as Node;
          expect(status.reason).toBe('usage limits are exceeded');
          expect(r.body.toString()).toContain('exceeded="true"');
        }
      }
      expect(statuses).toEqual(EXPECTED[client]);
      // The reports counted: demo-app had its authrep (1) and the report's 1 + 2 hits this minute.
      const after = await send(gw.url, { path: `/transactions/authorize.xml?service_token=SERVICE-TOKEN-0001&service_id=${SERVICE}&app_id=demo-app&app_key=DEMO-APP-KEY` });
      const minute = ((((xml.parse(after.body.toString()) as Node).status as Node).usage_reports as Node).usage_report as Node[])[0];
      // The Python and Ruby reports' second transaction carries a timestamp (07:18 today, in the past): it
      // counts in that minute and in the day, not in this minute.
      expect(minute.current_value).toBe('2');
    });
  }
});

describe('the npm 3scale client against Tollgate', () => {
  let tls: TlsServer;
  let gw: TestGateway;
  const oldCa = globalAgent.options.ca;

  beforeAll(() => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    // The client calls https.request without an agent: it uses the global one.
    globalAgent.options.ca = readFileSync(join(dir, 'cert.pem'));
  });
  afterAll(() => {
    globalAgent.options.ca = oldCa;
    tls?.close();
  });

  async function frontedGateway(): Promise<number> {
    gw = await boot(configWithFixtureApps());
    tls = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (s) => {
      const c = connect(gw.port, '127.0.0.1');
      s.pipe(c).pipe(s);
      s.on('error', () => c.destroy());
      c.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    return (tls.address() as AddressInfo).port;
  }

  interface ClientResponse {
    is_success(): boolean;
    status_code: number;
    error_code: string | null;
    error_message: string | null;
    plan?: string;
    usage_reports?: { metric: string; period: string; current_value: string; max_value: string; period_start?: string }[];
  }
  type Call = (o: Record<string, unknown>, cb: (r: ClientResponse) => void) => void;
  interface ClientT {
    authorize: Call;
    authrep: Call;
    authorize_with_user_key: Call;
    authrep_with_user_key: Call;
    oauth_authorize: Call;
    oauth_authrep: Call;
    report(serviceId: string, trans: unknown[], cb: (r: ClientResponse) => void): void;
  }
  const Client = (createRequire(import.meta.url)('3scale') as { Client: new (...a: unknown[]) => ClientT }).Client;
  const call = (fn: Call, c: ClientT, o: Record<string, unknown>) =>
    new Promise<ClientResponse>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the client never called back')), 5000);
      fn.call(c, o, (r) => {
        clearTimeout(t);
        resolve(r);
      });
    });

  it('authorizes, authreps until the limit, reports and gets errors, with service_token and provider_key', async () => {
    await awayFromMinuteBoundary(10_000);
    const port = await frontedGateway();
    const client = new Client({ host: '127.0.0.1', port });
    const st = { service_token: 'SERVICE-TOKEN-0001', service_id: SERVICE };

    const ok = await call(client.authorize, client, { ...st, app_id: 'demo-app', app_key: 'DEMO-APP-KEY' });
    expect(ok.is_success()).toBe(true);
    expect(ok.status_code).toBe(200);
    expect(ok.plan).toBe('Basic');
    expect(ok.usage_reports?.map((u) => [u.period, u.max_value, u.current_value])).toEqual([['minute', '5', '0'], ['day', '1000', '0']]);
    expect(ok.usage_reports?.[0].period_start).toMatch(/ \+0000$/);

    const bad = await call(client.authorize, client, { ...st, app_id: 'demo-app', app_key: 'nope' });
    expect([bad.is_success(), bad.status_code, bad.error_code]).toEqual([false, 403, 'application_key_invalid']);
    const unknown = await call(client.authorize, client, { ...st, app_id: 'who' });
    expect([unknown.status_code, unknown.error_code]).toEqual([404, 'application_not_found']);

    const user = await call(client.authrep_with_user_key, client, { ...st, user_key: 'DEMO-USER-KEY' });
    expect([user.is_success(), user.status_code]).toEqual([true, 200]);
    const oauth = await call(client.oauth_authrep, client, { ...st, app_id: 'oauth-app' });
    expect(oauth.is_success()).toBe(true);

    // Report with the provider key (the client puts it in the body): 202, and the hits count.
    const pkClient = new Client('PROVIDER-KEY-0001', { host: '127.0.0.1', port });
    const viaPk = await call(pkClient.authorize, pkClient, { service_id: SERVICE, app_id: 'demo-app', app_key: 'DEMO-APP-KEY' });
    expect([viaPk.is_success(), viaPk.status_code]).toEqual([true, 200]);
    const rep = await new Promise<ClientResponse>((resolve) => pkClient.report(SERVICE, [{ app_id: 'demo-app', usage: { hits: 3 } }], resolve));
    expect([rep.is_success(), rep.status_code]).toEqual([true, 202]);
    const wrongPk = new Client('pk-definitely-wrong', { host: '127.0.0.1', port });
    const refused = await new Promise<ClientResponse>((resolve) => wrongPk.report(SERVICE, [{ app_id: 'demo-app', usage: { hits: 1 } }], resolve));
    expect([refused.status_code, refused.error_code]).toEqual([403, 'provider_key_invalid']);

    // 3 reported + 2 authreps = 5 of 5: the next authrep is refused with 3scale's reason.
    const a1 = await call(client.authrep, client, { ...st, app_id: 'demo-app', app_key: 'DEMO-APP-KEY' });
    const a2 = await call(client.authrep, client, { ...st, app_id: 'demo-app', app_key: 'DEMO-APP-KEY' });
    expect([a1.status_code, a2.status_code]).toEqual([200, 200]);
    expect(a2.usage_reports?.[0].current_value).toBe('5');
    const over = await call(client.authrep, client, { ...st, app_id: 'demo-app', app_key: 'DEMO-APP-KEY' });
    expect([over.is_success(), over.status_code, over.error_message]).toEqual([false, 409, 'usage limits are exceeded']);

    // A usage value that is not a number: 422 is the one status the client kills its host process on, so
    // only usage_value_invalid uses it (checked without the client).
    const r = await send(gw.url, { path: `/transactions/authorize.xml?service_token=SERVICE-TOKEN-0001&service_id=${SERVICE}&app_id=demo-app&app_key=DEMO-APP-KEY&usage%5Bhits%5D=-1` });
    expect(r.status).toBe(422);
    expect(r.body.toString()).toContain('<error code="usage_value_invalid">');
  });
});
