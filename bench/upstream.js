// Benchmark upstream: a node:http server with fixed bodies, run as its own process
// so the harness can pin it to a core. Usage: node bench/upstream.js [port] (env PORT, HOST).
import http from 'node:http';

const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.argv[2] ?? process.env.PORT ?? 0);
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const MIB = 1024 * 1024;

/** Pads a JSON object with a filler field until it serialises to exactly `size` bytes. */
function jsonOfSize(obj, size) {
  const base = Buffer.byteLength(JSON.stringify({ ...obj, pad: '' }));
  if (base > size) throw new Error(`body already ${base} bytes, over ${size}`);
  return Buffer.from(JSON.stringify({ ...obj, pad: ' '.repeat(size - base) }));
}

const small = jsonOfSize({ id: 42, name: 'tollgate-bench', ok: true, tags: ['a', 'b', 'c'] }, 1024);
const smallHeaders = ['content-type', 'application/json', 'content-length', String(small.length)];
const cachedHeaders = [...smallHeaders, 'cache-control', 'public, max-age=3600'];
let big100k; // built once the origin is known, because its URLs name this server
let big100kHeaders;
let requests = 0;

function json100k(origin) {
  const items = [];
  for (let i = 0; JSON.stringify(items).length < 96 * 1024; i++) {
    items.push({ id: i, url: `${origin}/items/${i}`, thumb: `${origin}/images/${i}.jpg`, title: `Item ${i}` });
  }
  return jsonOfSize({ next: `${origin}/json100k?page=2`, items }, 100 * 1024);
}

function sendBig(req, res, url) {
  const mb = Number(url.searchParams.get('mb') ?? 1);
  if (!Number.isInteger(mb) || mb < 0 || mb > 4096) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('mb must be an integer 0..4096\n');
    return;
  }
  let left = mb * MIB;
  res.writeHead(200, ['content-type', 'application/octet-stream', 'content-length', String(left)]);
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return res.once('drain', pump);
    }
    res.end();
  };
  req.on('close', () => { left = 0; });
  pump();
}

const server = http.createServer((req, res) => {
  requests++;
  const q = req.url.indexOf('?');
  const path = q === -1 ? req.url : req.url.slice(0, q);
  if (path === '/big') return sendBig(req, res, new URL(req.url, 'http://x'));
  if (path === '/json100k') return res.writeHead(200, big100kHeaders).end(big100k);
  if (path === '/cached') return res.writeHead(200, cachedHeaders).end(small);
  // A slow cacheable answer for the coalescing scenario: ?ms=delay before the head; vary ?id= for a fresh key.
  if (path === '/slow') {
    const ms = Math.min(10_000, Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 200) || 0);
    return setTimeout(() => res.writeHead(200, cachedHeaders).end(small), ms);
  }
  if (path === '/__stats') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests }));
  // Drain any request body so keep-alive connections stay usable.
  req.resume();
  res.writeHead(200, smallHeaders).end(small);
});
server.keepAliveTimeout = 60_000;

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const origin = `http://${HOST}:${port}`;
  big100k = json100k(origin);
  big100kHeaders = ['content-type', 'application/json', 'content-length', String(big100k.length)];
  console.log(`listening on ${origin}`);
});
process.on('SIGTERM', () => process.exit(0));
