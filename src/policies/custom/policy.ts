import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { definePolicy } from '../types.js';
import type { PolicyDeps, PolicyHooks } from '../types.js';
import { customInfo } from './schema.js';
import { TYPESCRIPT_MODULE, enableTypeScriptModules } from './typescript.js';

/** What a user's module may export as its default: the built-in policies' shape, or a bare factory. */
interface UserModule {
  priority?: number;
  schema?: { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { message: string } } };
  create?: (options: unknown, deps: PolicyDeps) => PolicyHooks | Promise<PolicyHooks>;
}

const declared = new WeakMap<PolicyHooks, number>();

/**
 * The chain position a user's module declared (`priority` beside `create`), known only once the module is
 * loaded: the compiler uses it when the route's own `priority` option does not set one.
 */
export function declaredPriority(hooks: PolicyHooks): number | undefined {
  return declared.get(hooks);
}

/** Loads a user's policy module once per config compile; a broken module is a config error, not a request error. */
export const customPolicy = definePolicy({
  ...customInfo,
  async create(opts, deps) {
    const file = resolve(deps.configDir, opts.module);
    let mod: { default?: unknown };
    try {
      if (TYPESCRIPT_MODULE.test(file)) enableTypeScriptModules();
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (e) {
      // A TypeScript syntax error already starts with file:line:column.
      const message = (e as Error).message;
      throw new Error(`cannot load custom policy module ${message.startsWith(`${file}:`) ? message : `${file}: ${message}`}`);
    }
    const def = mod.default;
    let options: unknown = opts.options;
    let hooks: PolicyHooks;
    let priority: number | undefined;
    if (typeof def === 'function') {
      hooks = await (def as (o: unknown, d: PolicyDeps) => PolicyHooks | Promise<PolicyHooks>)(options, deps);
    } else if (def && typeof def === 'object' && typeof (def as UserModule).create === 'function') {
      const m = def as UserModule;
      if (m.priority !== undefined && (typeof m.priority !== 'number' || !Number.isFinite(m.priority))) {
        throw new Error(`custom policy module ${file} declares priority ${JSON.stringify(m.priority)}: expected a number`);
      }
      priority = m.priority;
      if (m.schema) {
        const r = m.schema.safeParse(options);
        if (!r.success) throw new Error(`options rejected by ${file}: ${r.error?.message ?? 'invalid'}`);
        options = r.data;
      }
      hooks = await m.create!(options, deps);
    } else {
      throw new Error(`custom policy module ${file} must export default a policy definition { create(options, deps) } or a function (options, deps) => hooks`);
    }
    if (!hooks || typeof hooks !== 'object') throw new Error(`custom policy module ${file} returned no hooks object`);
    if (priority !== undefined) declared.set(hooks, priority);
    return hooks;
  },
});
