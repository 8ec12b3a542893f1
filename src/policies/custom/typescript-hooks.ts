/**
 * Module customization hooks (https://nodejs.org/docs/latest-v20.x/api/module.html#customization-hooks) that
 * let Node 20 import `custom` policy modules written in TypeScript. They run on Node's loader thread, registered
 * by ./typescript.ts only when a config names a .ts/.mts module, so a gateway without one never loads them.
 *
 * Types are stripped by sucrase, which keeps every statement on its line: stack traces and syntax errors point
 * at the user's own lines without source maps. It does not type-check (neither does Node's own type stripping).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { LoadHook, ResolveHook } from 'node:module';
import { transform } from 'sucrase';

const TS_URL = /\.m?ts$/;

/** TypeScript's NodeNext convention: `import './helper.js'` in a .ts file means ./helper.ts when no .js exists. */
export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  try {
    return await nextResolve(specifier, context);
  } catch (e) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (!relative || !context.parentURL || !TS_URL.test(context.parentURL) || !/\.m?js$/.test(specifier)) throw e;
    if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    return nextResolve(specifier.replace(/js$/, 'ts'), context);
  }
};

export const load: LoadHook = async (url, context, nextLoad) => {
  if (!url.startsWith('file:') || !TS_URL.test(url)) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  try {
    const { code } = transform(source, { transforms: ['typescript'], disableESTransforms: true, filePath: file });
    return { format: 'module', source: code, shortCircuit: true };
  } catch (e) {
    // sucrase: "Error transforming /x/y.ts: Unexpected token (3:15)" with loc { line, column }: say it as file:line:column.
    const loc = (e as { loc?: { line: number; column: number } }).loc;
    const reason = (e as Error).message.replace(/^Error transforming [^:]*: /, '').replace(/ \(\d+:\d+\)$/, '');
    throw new SyntaxError(loc ? `${file}:${loc.line}:${loc.column}: ${reason}` : `${file}: ${reason}`);
  }
};
