// What the limiter shared by worker processes costs (no Redis: counters in the primary, asked over the cluster
// IPC channel; src/cluster/shared-limiter.ts), against the in-process memory limiter a single process uses.
// One worker runs the rate-limit policy's per-request call (consumeMany of 2 counters, a minute and a day
// limit as in bench/configs/keys.yaml) CALLS times, CONCURRENCY at a time, and reports wall µs per call and
// CPU µs per call of the worker and of the primary. Run after `npm run build`:
//   node bench/shared-limiter-cost.js        (LIMITER_CALLS, default 200000; LIMITER_CONCURRENCY, default 50)
import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { answerLimiter, createSharedLimiter } from '../dist/cluster/shared-limiter.js';
import { createMemoryLimiterStore } from '../dist/consumers/limiter.js';

const CALLS = Number(process.env.LIMITER_CALLS ?? 200_000);
const CONCURRENCY = Number(process.env.LIMITER_CONCURRENCY ?? 50);
const items = (i) => [
  { key: `p:bench:hits:minute:${i % 7}`, points: 1, ttlSeconds: 61 },
  { key: `p:bench:hits:day:${i % 7}`, points: 1, ttlSeconds: 86_401 },
];

async function run(limiter) {
  let left = CALLS;
  const worker = async () => {
    while (left-- > 0) {
      if (limiter.consumeMany) await limiter.consumeMany(items(left));
      else for (const it of items(left)) limiter.consume(it.key, it.points, it.ttlSeconds);
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallUsPerCall: (wall * 1000) / CALLS, cpuUsPerCall: (cpu.user + cpu.system) / CALLS };
}

if (cluster.isPrimary) {
  const memory = createMemoryLimiterStore();
  const local = await run(memory);
  console.log(`in-process memory limiter: ${local.wallUsPerCall.toFixed(2)} µs wall, ${local.cpuUsPerCall.toFixed(2)} µs CPU per request (2 counters)`);
  const shared = createMemoryLimiterStore();
  const w = cluster.fork();
  cluster.on('message', (worker, m) => {
    if (m?.t === 'tg-lim') answerLimiter(shared, worker, m);
  });
  const cpu0 = process.cpuUsage();
  const result = await new Promise((resolve) => w.on('message', (m) => m?.t === 'result' && resolve(m)));
  const cpu = process.cpuUsage(cpu0);
  w.kill();
  console.log(
    `shared limiter (worker → primary over IPC, ${CONCURRENCY} concurrent): ${result.wallUsPerCall.toFixed(2)} µs wall, ` +
      `${result.cpuUsPerCall.toFixed(2)} µs CPU in the worker + ${((cpu.user + cpu.system) / CALLS).toFixed(2)} µs CPU in the primary per request; ` +
      `${result.messages} messages for ${CALLS} requests (${(CALLS / result.messages).toFixed(1)} per message)`,
  );
} else {
  const limiter = createSharedLimiter();
  let messages = 0;
  const send = process.send.bind(process);
  process.send = (m, ...rest) => {
    if (m?.t === 'tg-lim') messages++;
    return send(m, ...rest);
  };
  const r = await run(limiter);
  process.send({ t: 'result', ...r, messages });
}
