import { hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Keys from ID_SECRET. HKDF-SHA256 (RFC 5869) with a fixed salt and one `info` label per use, so
 * the FF1 key and the fingerprint are independent outputs: the fingerprint, stored in the
 * database to refuse a start with another secret, tells nothing about the key (beyond letting
 * someone who can read it test guesses of the secret: HKDF is not a password hash, so ID_SECRET
 * must be random, not a word; hence the minimum length).
 */

export const FF1_KEY_INFO = 'id-allocator ff1 v1';
export const FINGERPRINT_INFO = 'id-allocator secret fingerprint v1';
const SALT = 'id-allocator';
/** shortest ID_SECRET accepted (characters); e.g. `openssl rand -hex 32` gives 64 */
export const MIN_SECRET_LENGTH = 16;

function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
    throw new RangeError(`ID_SECRET must be a string of at least ${MIN_SECRET_LENGTH} characters (random, e.g. 32 bytes hex)`);
  }
}

function hkdf(secret: string, info: string, length: number): Buffer {
  checkSecret(secret);
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from(SALT, 'utf8'), Buffer.from(info, 'utf8'), length));
}

/** the 32-byte (AES-256) FF1 key for ID_SECRET */
export function deriveFf1Key(secret: string): Buffer {
  return hkdf(secret, FF1_KEY_INFO, 32);
}

/** the fingerprint of ID_SECRET to store: 'v1:' and 32 hex digits (128 bits) */
export function secretFingerprint(secret: string): string {
  return 'v1:' + hkdf(secret, FINGERPRINT_INFO, 16).toString('hex');
}

/** whether a stored fingerprint is the one of `secret` (constant-time on equal lengths) */
export function fingerprintMatches(secret: string, stored: string): boolean {
  const mine = Buffer.from(secretFingerprint(secret), 'utf8');
  const theirs = Buffer.from(String(stored), 'utf8');
  return mine.length === theirs.length && timingSafeEqual(mine, theirs);
}
