/**
 * A focused structural check of an OpenAPI 3.1 document (no validator package is a dependency): the parts
 * Swagger UI and client generators trip over. Returns the problems found, as readable lines.
 */
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const STATUS = /^([1-5]\d\d|[1-5]XX|default)$/;
const COMPONENT_NAME = /^[A-Za-z0-9._-]+$/;

/** Resolves a local JSON pointer (`#/components/schemas/Error`), or undefined. */
function resolvePointer(doc: Obj, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let cur: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObj(cur) && !Array.isArray(cur)) return undefined;
    cur = (cur as Obj)[key];
    if (cur === undefined) return undefined;
  }
  return cur;
}

export function checkOpenApi(doc: unknown): string[] {
  const problems: string[] = [];
  const bad = (where: string, what: string) => problems.push(`${where}: ${what}`);
  if (!isObj(doc)) return ['document: expected an object'];
  if (doc.openapi !== '3.1.0') bad('openapi', `expected "3.1.0", got ${JSON.stringify(doc.openapi)}`);
  const info = doc.info;
  if (!isObj(info) || typeof info.title !== 'string' || typeof info.version !== 'string') bad('info', 'expected title and version strings');
  if (!Array.isArray(doc.servers) || !doc.servers.length || !doc.servers.every((s) => isObj(s) && typeof s.url === 'string' && s.url)) bad('servers', 'expected at least one { url }');
  if (!isObj(doc.paths)) bad('paths', 'expected an object');
  const components = isObj(doc.components) ? doc.components : {};
  for (const [kind, entries] of Object.entries(components)) {
    if (isObj(entries)) for (const name of Object.keys(entries)) if (!COMPONENT_NAME.test(name)) bad(`components.${kind}.${name}`, 'component names allow only A-Z a-z 0-9 . _ -');
  }
  const schemes = isObj(components.securitySchemes) ? components.securitySchemes : {};

  // Every $ref anywhere resolves.
  const walk = (v: unknown, where: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}[${i}]`));
    else if (isObj(v)) {
      if (typeof v.$ref === 'string' && resolvePointer(doc, v.$ref) === undefined) bad(where, `$ref ${v.$ref} does not resolve`);
      for (const [k, x] of Object.entries(v)) walk(x, `${where}.${k}`);
    }
  };
  walk(doc, '$');
  const deref = (v: unknown): unknown => (isObj(v) && typeof v.$ref === 'string' ? resolvePointer(doc, v.$ref) : v);

  const checkSecurity = (sec: unknown, where: string) => {
    if (sec === undefined) return;
    if (!Array.isArray(sec)) return bad(where, 'security must be a list');
    for (const req of sec) {
      if (!isObj(req)) bad(where, 'a security requirement must be an object');
      else for (const name of Object.keys(req)) if (!schemes[name]) bad(where, `security scheme ${name} is not in components.securitySchemes`);
    }
  };
  checkSecurity(doc.security, 'security');
  for (const [name, s] of Object.entries(schemes)) {
    if (!isObj(s) || !['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'].includes(s.type as string)) bad(`securitySchemes.${name}`, 'unknown type');
    else if (s.type === 'apiKey' && (typeof s.name !== 'string' || !['query', 'header', 'cookie'].includes(s.in as string))) bad(`securitySchemes.${name}`, 'apiKey needs name and in');
    else if (s.type === 'http' && typeof s.scheme !== 'string') bad(`securitySchemes.${name}`, 'http needs scheme');
  }

  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(isObj(doc.paths) ? doc.paths : {})) {
    if (!path.startsWith('/')) bad(path, 'paths start with /');
    if (!isObj(item)) {
      bad(path, 'expected a path item');
      continue;
    }
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    const params = (list: unknown, where: string): Obj[] => {
      if (list === undefined) return [];
      if (!Array.isArray(list)) {
        bad(where, 'parameters must be a list');
        return [];
      }
      const out = list.map((p) => deref(p)).filter(isObj);
      const seen = new Set<string>();
      for (const p of out) {
        if (typeof p.name !== 'string' || !['path', 'query', 'header', 'cookie'].includes(p.in as string)) bad(where, `parameter ${JSON.stringify(p.name)} needs a name and in`);
        if (!isObj(p.schema) && !isObj(p.content)) bad(where, `parameter ${String(p.name)} needs a schema or content`);
        if (p.in === 'path' && p.required !== true) bad(where, `path parameter ${String(p.name)} must be required`);
        if (p.in === 'path' && !templated.includes(p.name as string)) bad(where, `path parameter ${String(p.name)} is not in the path`);
        const key = `${String(p.in)}:${String(p.name)}`;
        if (seen.has(key)) bad(where, `parameter ${key} declared twice`);
        seen.add(key);
      }
      return out;
    };
    const shared = params(item.parameters, path);
    let operations = 0;
    for (const method of METHODS) {
      const op = item[method];
      if (op === undefined) continue;
      operations++;
      const where = `${method.toUpperCase()} ${path}`;
      if (!isObj(op)) {
        bad(where, 'expected an operation object');
        continue;
      }
      const own = params(op.parameters, where);
      for (const name of templated) {
        if (![...own, ...shared].some((p) => p.in === 'path' && p.name === name)) bad(where, `path parameter {${name}} is not declared`);
      }
      if (typeof op.operationId === 'string') {
        if (operationIds.has(op.operationId)) bad(where, `operationId ${op.operationId} is used twice`);
        operationIds.add(op.operationId);
      }
      if (!isObj(op.responses) || !Object.keys(op.responses).length) bad(where, 'expected at least one response');
      else {
        for (const [status, r] of Object.entries(op.responses)) {
          if (!STATUS.test(status)) bad(where, `response key ${status} is not a status code, 1XX-5XX or default`);
          const resp = deref(r);
          if (!isObj(resp) || typeof resp.description !== 'string') bad(`${where} ${status}`, 'a response needs a description');
        }
      }
      if (op.requestBody !== undefined) {
        const body = deref(op.requestBody);
        if (!isObj(body) || !isObj(body.content)) bad(where, 'requestBody needs content');
      }
      checkSecurity(op.security, where);
    }
    if (!operations) bad(path, 'no operations');
  }
  return problems;
}
