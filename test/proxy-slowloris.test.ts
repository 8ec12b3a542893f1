import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startUpstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';

afterEach(closeAll);

describe('slow clients', () => {
  it('closes a connection that dribbles its request head past listen.headersTimeout with 408, while others are served', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(`listen: { headersTimeout: 400ms }\nupstreams: { app: { url: "${up.url}" } }\nroutes: [{ match: { prefix: / }, upstream: app }]\n`);
    const socket = connect(gw.port, '127.0.0.1');
    let received = '';
    socket.on('data', (c) => (received += c.toString()));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 100);
    // Meanwhile a well-behaved client is served.
    expect((await fetch(`${gw.url}/fine`)).status).toBe(200);
    await closed;
    clearInterval(drip);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received).toContain('"code":"TG_REQUEST_TIMEOUT"');
    expect(up.requests.map((r) => r.url)).toEqual(['/fine']);
  });
});
