import { describe, expect, it } from 'vitest';
import { BadParams, parseParams } from './params.js';
import { parseTimestamp } from './policy.js';
import { esc, errorXml, statusXml, threescaleTime } from './xml.js';

const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

describe('3scale parameters', () => {
  it('reads usage[metric] literal, percent-encoded, and with the Ruby client\u2019s leading bracket', () => {
    for (const q of ['usage[hits]=1&usage[search]=2', 'usage%5Bhits%5D=1&usage%5Bsearch%5D=2', '%5Busage%5D%5Bhits%5D=1&[usage][search]=2']) {
      expect(plain(parseParams(q)), q).toEqual({ usage: { hits: '1', search: '2' } });
    }
  });

  it('reads report transactions from the Python client\u2019s body: raw brackets, empty && segments, + and %20', () => {
    const body = 'service_token=T&service_id=1&&transactions[0][app_id]=a&transactions[0][usage][hits]=1&transactions[1][timestamp]=2026-12-02%2007%3A18%3A48%20%2B0000&transactions[1][user_key]=k+1';
    expect(plain(parseParams(body))).toEqual({
      service_token: 'T',
      service_id: '1',
      transactions: { '0': { app_id: 'a', usage: { hits: '1' } }, '1': { timestamp: '2026-12-02 07:18:48 +0000', user_key: 'k 1' } },
    });
  });

  it('refuses malformed encodings and a name used both as a value and a group', () => {
    expect(() => parseParams('app_id=%E0%A4%A')).toThrow(BadParams);
    expect(() => parseParams('usage=1&usage[hits]=1')).toThrow(BadParams);
    expect(() => parseParams('usage[hits]=1&usage=1')).toThrow(BadParams);
  });

  it('cannot be steered into Object.prototype', () => {
    const t = parseParams('__proto__[polluted]=1&constructor[prototype][x]=1');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(t)).toBeNull();
    expect(Object.keys(t)).toEqual(['__proto__', 'constructor']);
  });

  it('parses report timestamps as the Node, Python and Ruby clients write them', () => {
    const want = Date.UTC(2026, 11, 2, 7, 18, 48);
    expect(parseTimestamp('2026-12-02T07:18:48.000Z')).toBe(want);
    expect(parseTimestamp('2026-12-02 07:18:48 +0000')).toBe(want);
    expect(parseTimestamp('2026-12-02 09:18:48 +0200')).toBe(want);
    expect(parseTimestamp('yesterday')).toBeUndefined();
  });
});

describe('3scale XML', () => {
  it('escapes text and attributes', () => {
    expect(esc(`<a href="x">&'</a>\u0001`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
    expect(errorXml('metric_invalid', 'metric "<x>" is invalid')).toBe('<?xml version="1.0" encoding="UTF-8"?><error code="metric_invalid">metric &quot;&lt;x&gt;&quot; is invalid</error>');
  });

  it('writes period bounds as YYYY-MM-DD HH:MM:SS +0000 and omits them for eternity', () => {
    expect(threescaleTime(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe('2026-01-02 03:04:05 +0000');
    const xml = statusXml({
      authorized: false,
      reason: 'usage limits are exceeded',
      plan: 'Basic',
      reports: [
        { metric: 'hits', period: 'minute', start: 0, end: 60_000, max: 5, current: 5, exceeded: true },
        { metric: 'hits', period: 'eternity', max: 9, current: 5, exceeded: false },
      ],
    });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>Basic</plan><usage_reports>' +
        '<usage_report metric="hits" period="minute" exceeded="true"><period_start>1970-01-01 00:00:00 +0000</period_start><period_end>1970-01-01 00:01:00 +0000</period_end><max_value>5</max_value><current_value>5</current_value></usage_report>' +
        '<usage_report metric="hits" period="eternity"><max_value>9</max_value><current_value>5</current_value></usage_report></usage_reports></status>',
    );
  });
});
