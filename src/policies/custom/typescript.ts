import { register } from 'node:module';

/** `custom` modules with these extensions are TypeScript (loaded as ES modules, types stripped). */
export const TYPESCRIPT_MODULE = /\.m?ts$/;

let registered = false;

/** Teaches this process's module loader to import .ts/.mts files; once per process, on first need. */
export function enableTypeScriptModules(): void {
  if (registered) return;
  register('./typescript-hooks.js', import.meta.url);
  registered = true;
}
