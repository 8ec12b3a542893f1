// What a first attempt looks like: fastify 5 + undici request(), piping the body back.
// Usage: node bench/naive-forwarder.js UPSTREAM_URL [port]
import Fastify from 'fastify';
import { request } from 'undici';

const upstream = (process.argv[2] ?? process.env.UPSTREAM_URL).replace(/\/$/, '');
const HOST = process.env.HOST ?? '127.0.0.1';
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'expect']);

function strip(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
  return out;
}

const app = Fastify({ logger: false });
// Keep bodies as raw streams: a forwarder must not parse what it passes on.
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

app.all('/*', async (req, reply) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const res = await request(upstream + req.url, {
    method: req.method,
    headers: strip(req.headers),
    body: hasBody ? req.body : undefined,
  });
  reply.code(res.statusCode).headers(strip(res.headers));
  return reply.send(res.body);
});

const address = await app.listen({ port: Number(process.argv[3] ?? process.env.PORT ?? 0), host: HOST });
console.log(`listening on ${address}`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
