import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { LogSink } from './log-sink.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-log-sink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('log sink', () => {
  it('writes every line once, in order, including lines longer than its buffers', async () => {
    const file = join(dir, 'order.log');
    const sink = new LogSink(file);
    const expected: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      const line = i === 20_000 ? `{"i":${i},"big":"${'x'.repeat(1024 * 1024)}"}` : `{"i":${i},"u":"é€😀"}`;
      expected.push(line);
      sink.write(`${line}\n`);
      if (i % 5_000 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise<void>((resolve, reject) => sink.flush((err) => (err ? reject(err) : resolve())));
    sink.end();
    expect(readFileSync(file, 'utf8').split('\n').slice(0, -1)).toEqual(expected);
  });

  it('flushSync writes what is pending at once (shutdown, exit)', () => {
    const file = join(dir, 'sync.log');
    const sink = new LogSink(file);
    sink.write('{"msg":"one"}\n');
    sink.write('{"msg":"two"}\n');
    expect(readFileSync(file, 'utf8')).toBe('');
    sink.flushSync();
    expect(readFileSync(file, 'utf8')).toBe('{"msg":"one"}\n{"msg":"two"}\n');
    sink.end();
  });

  it('serves as pino destination: logger lines and raw lines share it whole', async () => {
    const file = join(dir, 'pino.log');
    const sink = new LogSink(file);
    const log = pino({ base: undefined }, sink);
    for (let i = 0; i < 1000; i++) {
      log.info({ i }, 'from pino');
      sink.write(`{"level":30,"i":${i},"msg":"raw"}\n`);
    }
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    sink.end();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { i: number; msg: string });
    expect(lines).toHaveLength(2000);
    expect(lines.filter((l) => l.msg === 'from pino').map((l) => l.i)).toEqual([...Array(1000).keys()]);
  });
});
