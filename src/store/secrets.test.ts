import { describe, it, expect } from 'vitest';
import { generateSecret, hashPassword, verifyPassword, sha256Hex, hashesEqual, secretHint } from './secrets.js';

describe('secrets', () => {
  it('generates distinct, prefixed, URL-safe secrets', () => {
    const a = generateSecret('tgk_');
    const b = generateSecret('tgk_');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^tgk_[A-Za-z0-9_-]{32}$/);
  });

  it('compares hashes of equal secrets as equal and of different ones as different', () => {
    expect(hashesEqual(sha256Hex('tgk_x'), sha256Hex('tgk_x'))).toBe(true);
    expect(hashesEqual(sha256Hex('tgk_x'), sha256Hex('tgk_y'))).toBe(false);
    expect(hashesEqual(sha256Hex('tgk_x'), '')).toBe(false);
  });

  it('shows only the prefix and last four characters as a hint', () => {
    const s = generateSecret('tgk_');
    expect(secretHint(s)).toBe(`tgk_…${s.slice(-4)}`);
    expect(secretHint('short')).toBe('…');
  });

  it('verifies a password against its scrypt hash, and rejects a wrong one', async () => {
    const encoded = await hashPassword('correct horse');
    expect(encoded).not.toContain('correct horse');
    expect(encoded.startsWith('scrypt$')).toBe(true);
    expect(await verifyPassword('correct horse', encoded)).toBe(true);
    expect(await verifyPassword('correct horsE', encoded)).toBe(false);
    expect(await verifyPassword('x', 'not-a-hash')).toBe(false);
  });
});
