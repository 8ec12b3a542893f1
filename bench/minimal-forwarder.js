// The floor of what Node can do: node:http in, undici Pool.dispatch out, a raw handler writing
// straight to the response. Usage: node bench/minimal-forwarder.js UPSTREAM_URL [port]
import http from 'node:http';
import { Pool } from 'undici';

const upstream = process.argv[2] ?? process.env.UPSTREAM_URL;
const HOST = process.env.HOST ?? '127.0.0.1';
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'expect']);

const server = http.createServer((req, res) => {
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!HOP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool.dispatch({ method: req.method, path: req.url, headers, body: hasBody ? req : null }, {
    onConnect(abort) { res.on('close', () => { if (!res.writableFinished) abort(); }); },
    onHeaders(status, raw, resume) {
      const out = [];
      for (let i = 0; i < raw.length; i += 2) {
        const k = raw[i].toString();
        if (!HOP.has(k.toLowerCase())) out.push(k, raw[i + 1].toString());
      }
      res.writeHead(status, out);
      res.on('drain', resume);
      return true;
    },
    onData(chunk) { return res.write(chunk); },
    onComplete() { res.end(); },
    onError(err) { if (res.headersSent) res.destroy(err); else res.writeHead(502).end(); },
  });
});

server.listen(Number(process.argv[3] ?? process.env.PORT ?? 0), HOST, () => {
  console.log(`listening on http://${HOST}:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
