/**
 * The data plane (src/proxy, src/policies, src/consumers, and src/cache once the cache stores live there)
 * reaches the SQL store only through the narrow interfaces of src/store/types.ts, which the gateway hands it
 * as narrow() views (src/gateway/consumers.ts): never the SQL code, the opener or the whole `Store`.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const DATA_PLANE = ['src/proxy', 'src/policies', 'src/consumers', 'src/cache'];
/** Pure helpers of the store folder the data plane may use: the interfaces and types, calendar periods, secret generation. */
const ALLOWED = new Set(['types.js', 'periods.js', 'secrets.js']);

function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('the data plane and the SQL store', () => {
  const files = DATA_PLANE.flatMap((d) => sources(join(ROOT, d)));

  it('imports nothing of the store but its interfaces and pure helpers', () => {
    expect(files.length).toBeGreaterThan(20);
    const offending: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/from '((?:\.\.\/)+store\/([^']+))'/g)) {
        if (!ALLOWED.has(m[2])) offending.push(`${relative(ROOT, file)}: ${m[1]}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('never names the whole Store, only its narrow interfaces', () => {
    const offending: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/import type \{([^}]*)\} from '(?:\.\.\/)+store\/types\.js'/g)) {
        if (m[1].split(',').some((name) => name.trim() === 'Store' || name.trim().startsWith('StoreAdmin'))) offending.push(relative(ROOT, file));
      }
    }
    expect(offending).toEqual([]);
  });
});
