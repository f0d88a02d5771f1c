import { deriveFf1Key, fingerprintMatches, MIN_SECRET_LENGTH, secretFingerprint } from './secret';

const SECRET = 'kat secret: 3f6c0b1e9d2a4c7b8e5f1a2d3c4b5a69';

describe('ID_SECRET derivation', () => {
  it('known answers: HKDF-SHA256, salt "id-allocator", one info per use (checked against a plain HMAC-SHA256 HKDF)', () => {
    expect(deriveFf1Key(SECRET).toString('hex')).toBe('9e8b51f78569b188cbe2d134347cb07d1f0ee1d17d80bc119e95dd319496f27b');
    expect(secretFingerprint(SECRET)).toBe('v1:d5f179d2a80ff2f950a345476b58f624');
  });

  it('gives a 32-byte key, and a fingerprint that is not part of it', () => {
    const key = deriveFf1Key(SECRET);
    expect(key).toHaveLength(32);
    const fp = Buffer.from(secretFingerprint(SECRET).slice(3), 'hex');
    expect(fp).toHaveLength(16);
    expect(key.includes(fp)).toBe(false);
    expect(key.includes(fp.subarray(0, 4))).toBe(false);
  });

  it('changes key and fingerprint with any change of the secret', () => {
    const other = SECRET.slice(0, -1) + 'a';
    expect(deriveFf1Key(other).equals(deriveFf1Key(SECRET))).toBe(false);
    expect(secretFingerprint(other)).not.toBe(secretFingerprint(SECRET));
  });

  it('matches a stored fingerprint only for the same secret', () => {
    const stored = secretFingerprint(SECRET);
    expect(fingerprintMatches(SECRET, stored)).toBe(true);
    expect(fingerprintMatches(SECRET + ' ', stored)).toBe(false);
    expect(fingerprintMatches(SECRET, stored.slice(0, -1))).toBe(false);
    expect(fingerprintMatches(SECRET, '')).toBe(false);
  });

  it(`refuses secrets shorter than ${MIN_SECRET_LENGTH} characters`, () => {
    expect(() => deriveFf1Key('')).toThrow(RangeError);
    expect(() => deriveFf1Key('x'.repeat(MIN_SECRET_LENGTH - 1))).toThrow(RangeError);
    expect(() => secretFingerprint('short')).toThrow(RangeError);
    expect(deriveFf1Key('x'.repeat(MIN_SECRET_LENGTH))).toHaveLength(32);
  });
});
