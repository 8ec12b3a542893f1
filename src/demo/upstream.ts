/** A small upstream for `tollgate demo` and the README: JSON, pagination, echo, slow and large answers. */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 'x');

export async function startDemoUpstream(port = 0, host = '127.0.0.1'): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const json = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (url.pathname === '/hello') return json(200, { hello: 'world', at: new Date().toISOString() });
    if (url.pathname === '/items') {
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
      const size = Math.min(100, Math.max(1, Number(url.searchParams.get('page_size') ?? 10) || 10));
      const total = 95;
      const results = Array.from({ length: Math.max(0, Math.min(size, total - (page - 1) * size)) }, (_, i) => {
        const id = (page - 1) * size + i + 1;
        return { id, name: `item ${id}`, resource_url: `http://${req.headers.host}/items/${id}` };
      });
      return json(200, { count: total, page, page_size: size, results });
    }
    if (url.pathname === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => json(200, { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }));
      return;
    }
    if (url.pathname === '/slow') {
      const ms = Math.min(30_000, Number(url.searchParams.get('ms') ?? 1000) || 0);
      setTimeout(() => json(200, { waited: ms }), ms);
      return;
    }
    if (url.pathname === '/big') {
      const mb = Math.min(4096, Number(url.searchParams.get('mb') ?? 10) || 1);
      let left = mb * 16; // 64 KiB chunks
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mb * 1024 * 1024 });
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    json(404, { detail: 'Not found.' });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const a = server.address() as AddressInfo;
  return { server, url: `http://${host}:${a.port}` };
}
