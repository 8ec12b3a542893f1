/**
 * The live config for /api/config and /api/routes with every secret redacted: values the loader marked secret
 * (from `${file:…}` or secret-looking variables: the snapshot's redactText), values under secret-looking
 * keys (tokens, passwords, keys written inline), and passwords in store/Redis URLs.
 */
const SECRET_KEY = /token|password|passwd|secret|^keys$|^userKeys$|^appKeys$|privateKey|credential|^key$|apiKey|signingKey/i;
const REDACTED = '[redacted]';

const isSecretKey = (k: string): boolean => SECRET_KEY.test(k) && !/url$/i.test(k);

function walk(v: unknown, key: string): unknown {
  if (typeof v === 'string') {
    if (v !== '' && isSecretKey(key)) return REDACTED;
    return v.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@/\s]+@/i, `$1${REDACTED}@`);
  }
  if (Array.isArray(v)) return v.map((x) => (isSecretKey(key) && typeof x === 'string' && x !== '' ? REDACTED : walk(x, '')));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
  return v;
}

export function redactConfig<T>(value: T, redactText: (text: string) => string): unknown {
  return walk(JSON.parse(redactText(JSON.stringify(value))), '');
}
