/**
 * Secret generation and hashing. API keys, client secrets and service tokens are 192-bit random values,
 * so an unsalted SHA-256 is enough to store them (nothing to brute-force) and lets a lookup go by index.
 * Passwords are chosen by people, so they get scrypt with a per-user salt.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import type { BinaryLike, ScryptOptions } from 'node:crypto';

const SECRET_BYTES = 24;
const ID_BYTES = 8;
const HINT_TAIL = 4;
/** scrypt cost: N=2^15, r=8, p=1 (RFC 7914 §2; OWASP's minimum for N·r at p=1 is 2^17·8 bytes of memory: 2^15·8 is ~32 MiB and ~100 ms here). */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32, saltBytes: 16 } as const;
const SCRYPT_MAXMEM = 128 * SCRYPT.N * SCRYPT.r * 2;

/** Readable prefixes, so a leaked secret is recognisable (and matchable by secret scanners). */
export const SECRET_PREFIX = {
  api_key: 'tgk_',
  user_key: 'tgu_',
  app_key: 'tga_',
  oauth2_client: 'tgs_',
  service_token: 'tgt_',
  client_id: 'tgc_',
} as const;

/** A fresh random secret: prefix + base64url of 24 random bytes. */
export function generateSecret(prefix: string): string {
  return prefix + randomBytes(SECRET_BYTES).toString('base64url');
}

/** A fresh random id: prefix + 16 hex chars (hex, so it never starts with `-` on a command line). */
export function generateId(prefix: string): string {
  return prefix + randomBytes(ID_BYTES).toString('hex');
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex SHA-256 digests. */
export function hashesEqual(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, 'hex');
  const b = Buffer.from(bHex, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** What a listing shows instead of the secret: its prefix and last characters. */
export function secretHint(secret: string): string {
  const m = /^([a-z]+_)/.exec(secret);
  const tail = secret.length > 12 ? secret.slice(-HINT_TAIL) : '';
  return `${m?.[1] ?? ''}…${tail}`;
}

function scrypt(password: BinaryLike, salt: BinaryLike, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash` (base64url), self-describing so the cost can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltBytes);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT_MAXMEM });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64url');
  const expected = Buffer.from(parts[5], 'base64url');
  if (!N || !r || !p || expected.length === 0) return false;
  const key = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 128 * N * r * 2 });
  return timingSafeEqual(key, expected);
}

let dummyHash: Promise<string> | undefined;

/** Spends the same scrypt time as a real check, so a missing user is not told apart by timing. */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword(generateSecret(''));
  await verifyPassword(password, await dummyHash);
}
