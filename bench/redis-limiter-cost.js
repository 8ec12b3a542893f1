// Client-side CPU per request of the Redis limiter store of a build: its createRedisLimiterStore through a bounded
// EVALSHA client like the gateway's, 50 concurrent "requests" of 2 counters (minute, day), N of them.
// Usage: node bench/redis-limiter-cost.js [root of a built checkout] [N]   (Redis at BENCH_REDIS_URL or :6379)
import { createHash } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
const root = path.resolve(process.argv[2] ?? '.');
const which = path.basename(root);
const { createRedisLimiterStore } = await import(`${root}/dist/consumers/limiter.js`);
const { connectGatewayRedis, bounded } = await import(`${root}/dist/redis-client.js`);
const client = await connectGatewayRedis({ url: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', timeout: 1000 }, 'bench', undefined);
const shas = new Map();
const lc = { eval(script, o) { let sha = shas.get(script); if (!sha) shas.set(script, (sha = createHash('sha1').update(script).digest('hex'))); return bounded(client.evalSha(sha, o).catch((e) => (/NOSCRIPT/.test(e.message) ? client.eval(script, o) : Promise.reject(e))), 1000); }, get isReady() { return client.isReady; } };
const store = createRedisLimiterStore(lc, `tollgate:limbench:${which}:${Date.now()}`);
const N = Number(process.argv[3] ?? 40000);
let left = N;
const one = async (w) => { while (left-- > 0) { await store.consumeMany([{ key: `p:app${w % 5}:hits:minute:1`, points: 1, ttlSeconds: 60 }, { key: `p:app${w % 5}:hits:day:1`, points: 1, ttlSeconds: 86400 }]); await new Promise((r) => setImmediate(r)); } };
await Promise.all(Array.from({ length: 50 }, (_, w) => one(w)));
left = N;
const c0 = process.cpuUsage(); const t0 = performance.now();
await Promise.all(Array.from({ length: 50 }, (_, w) => one(w)));
const c = process.cpuUsage(c0); const ms = performance.now() - t0;
console.log(`${root}: ${((c.user + c.system) / N).toFixed(2)} µs CPU per request (client side), ${(N / ms * 1000).toFixed(0)} req/s wall`);
await client.close();
