/** `tollgate plans create|list|show`: plans (limits per metric per calendar period, and throttles). */
import type { Command } from 'commander';
import { PERIODS, StoreError } from '../store/index.js';
import type { Period, Plan, Throttle, UsageLimit } from '../store/index.js';
import { addOpsOptions, print, printOne, withOps } from './store-common.js';
import type { StoreOpts } from './store-common.js';
import { examples } from './help.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** "hits:minute:5", or "minute:5" for hits. */
function parseLimit(s: string): UsageLimit {
  const m = /^(?:([A-Za-z0-9_.-]+):)?([a-z]+):(\d+)$/.exec(s);
  if (!m || !(PERIODS as readonly string[]).includes(m[2])) throw new StoreError('INVALID', `limit ${JSON.stringify(s)}: expected [METRIC:]PERIOD:MAX (e.g. hits:minute:5), PERIOD one of ${PERIODS.join(', ')}`);
  return { metric: m[1] || 'hits', period: m[2] as Period, max: Number(m[3]) };
}

function parseThrottle(s: string): Throttle {
  const m = /^(?:([A-Za-z0-9_.-]+):)?(second|minute):(\d+)$/.exec(s);
  if (!m) throw new StoreError('INVALID', `throttle ${JSON.stringify(s)}: expected [METRIC:]second|minute:MAX (e.g. second:10)`);
  return { metric: m[1] || 'hits', per: m[2] as 'second' | 'minute', max: Number(m[3]) };
}

const limits = (p: Plan) => [...p.limits.map((l) => `${l.max} ${l.metric}/${l.period}`), ...p.throttles.map((t) => `${t.max} ${t.metric ?? 'hits'}/${t.per} (throttle)`)].join(', ') || 'unlimited';
const row = (p: Plan) => ({ id: p.id, name: p.name, service: p.serviceId, limits: limits(p), origin: p.origin });

export function registerPlans(program: Command): void {
  const cmd = examples(
    program.command('plans').description('Manage plans (limits per metric and period).'),
    'tollgate plans create free --limit hits:minute:5 --limit hits:day:1000 -c tollgate.yaml',
    'tollgate plans list -c tollgate.yaml',
    'tollgate plans list --admin http://127.0.0.1:9080   # through a running gateway (token: $TOLLGATE_ADMIN_TOKEN)',
  );
  addOpsOptions(cmd.command('create <id>').description('Create a plan, or replace its limits.'))
    .option('--name <name>', 'display name')
    .option('--service <id>', 'service the plan belongs to')
    .option('--limit <spec>', 'METRIC:PERIOD:MAX, repeatable (e.g. --limit hits:minute:5 --limit hits:day:1000)', collect, [])
    .option('--throttle <spec>', '[METRIC:]second|minute:MAX, repeatable', collect, [])
    .addHelpText('after', '\nExamples:\n  $ tollgate plans create free --limit hits:minute:5 --limit hits:day:1000\n  $ tollgate plans create pro --limit hits:month:100000 --throttle second:20')
    .action((id: string, o: StoreOpts & { name?: string; service?: string; limit: string[]; throttle: string[] }) =>
      withOps(o, async (ops) => {
        const plan = await ops.upsertPlan({ id, name: o.name, serviceId: o.service, limits: o.limit.map(parseLimit), throttles: o.throttle.map(parseThrottle) });
        printOne(o, row(plan), plan);
      }),
    );
  examples(addOpsOptions(cmd.command('list').description('List plans.')), 'tollgate plans list --json -c tollgate.yaml').action((o: StoreOpts) =>
    withOps(o, async (ops) => {
      const all = await ops.listPlans();
      print(o, all.map(row), all);
    }),
  );
  examples(addOpsOptions(cmd.command('show <id>').description('Show a plan.')), 'tollgate plans show free -c tollgate.yaml').action((id: string, o: StoreOpts) =>
    withOps(o, async (ops) => {
      const p = await ops.showPlan(id);
      printOne(o, row(p), p);
    }),
  );
}
