import { randomBytes } from 'node:crypto';
import { AesBlockCipher, BinaryFF1, FF1 } from './ff1';

/**
 * NIST SP 800-38G FF1 sample vectors (NIST CSRC "Cryptographic Standards and Guidelines",
 * examples FF1samples.pdf, samples 1-9). Digits are 0-9 then a-z for radix 36.
 */
const K128 = '2B7E151628AED2A6ABF7158809CF4F3C';
const K192 = '2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F';
const K256 = '2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94';
const T_NONE = '';
const T_10 = '39383736353433323130';
const T_11 = '3737373770717273373737';
const PT10 = '0123456789';
const PT36 = '0123456789abcdefghi';

const NIST: [sample: number, key: string, radix: number, tweak: string, pt: string, ct: string][] = [
  [1, K128, 10, T_NONE, PT10, '2433477484'],
  [2, K128, 10, T_10, PT10, '6124200773'],
  [3, K128, 36, T_11, PT36, 'a9tv40mll9kdu509eum'],
  [4, K192, 10, T_NONE, PT10, '2830668132'],
  [5, K192, 10, T_10, PT10, '2496655549'],
  [6, K192, 36, T_11, PT36, 'xbj3kv35jrawxv32ysr'],
  [7, K256, 10, T_NONE, PT10, '6657667009'],
  [8, K256, 10, T_10, PT10, '1001623463'],
  [9, K256, 36, T_11, PT36, 'xs8a0azh2avyalyzuwd'],
];

const digits = (s: string, radix: number) => [...s].map((c) => parseInt(c, radix));
const text = (d: number[], radix: number) => d.map((x) => x.toString(radix)).join('');

describe('AesBlockCipher', () => {
  it('matches the FIPS-197 appendix C.1 AES-128 example, block after block on one key', () => {
    const aes = new AesBlockCipher(Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'));
    const pt = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    for (let k = 0; k < 3; k++) expect(aes.encrypt(pt).toString('hex')).toBe('69c4e0d86a7b0430d8cdb78070b4c55a');
    expect(aes.encrypt(Buffer.concat([pt, pt])).toString('hex')).toBe('69c4e0d86a7b0430d8cdb78070b4c55a'.repeat(2));
  });

  it('refuses other key sizes and partial blocks', () => {
    expect(() => new AesBlockCipher(Buffer.alloc(20))).toThrow(RangeError);
    expect(() => new AesBlockCipher(Buffer.alloc(16)).encrypt(Buffer.alloc(15))).toThrow(RangeError);
  });
});

describe('FF1: NIST SP 800-38G sample vectors', () => {
  it.each(NIST)('sample %i encrypts and decrypts', (_n, key, radix, tweak, pt, ct) => {
    const ff1 = new FF1(Buffer.from(key, 'hex'), radix);
    const T = Buffer.from(tweak, 'hex');
    expect(text(ff1.encrypt(digits(pt, radix), T), radix)).toBe(ct);
    expect(text(ff1.decrypt(digits(ct, radix), T), radix)).toBe(pt);
  });

  it('gives the same answers when one FF1 object is reused across vectors in any order', () => {
    const objects = new Map<string, FF1>();
    for (const [, key, radix, tweak, pt, ct] of [...NIST].reverse().concat(NIST)) {
      const id = `${key}/${radix}`;
      if (!objects.has(id)) objects.set(id, new FF1(Buffer.from(key, 'hex'), radix));
      const ff1 = objects.get(id)!;
      expect(text(ff1.encrypt(digits(pt, radix), Buffer.from(tweak, 'hex')), radix)).toBe(ct);
    }
  });
});

describe('FF1: domain checks', () => {
  const key = Buffer.from(K128, 'hex');
  it('refuses a radix outside 2..2^16', () => {
    expect(() => new FF1(key, 1)).toThrow(RangeError);
    expect(() => new FF1(key, 65537)).toThrow(RangeError);
    expect(() => new FF1(key, 10.5)).toThrow(RangeError);
  });

  it('refuses domains under a million values (radix^n < 10^6) and bad digits', () => {
    const ff1 = new FF1(key, 10);
    expect(ff1.minLength).toBe(6);
    expect(() => ff1.encrypt([1, 2, 3, 4, 5])).toThrow(RangeError);
    expect(() => ff1.encrypt([1, 2, 3, 4, 5, 10])).toThrow(RangeError);
    expect(() => ff1.encrypt([1, 2, 3, 4, 5, -1])).toThrow(RangeError);
    expect(new FF1(key, 2).minLength).toBe(20);
    expect(new FF1(key, 65536).minLength).toBe(2);
    expect(() => new FF1(key, 2, { minLength: 19 })).toThrow(RangeError);
  });

  it('round-trips a large radix, long inputs (d > 16) and long tweaks', () => {
    const cases: [number, number, number][] = [
      [65536, 2, 0],
      [65536, 40, 3],
      [10, 101, 40],
      [36, 64, 17],
      [2, 300, 0],
      [7, 61, 5],
    ];
    for (const [radix, n, t] of cases) {
      const ff1 = new FF1(randomBytes(32), radix);
      const x = Array.from({ length: n }, () => Math.floor(Math.random() * radix));
      const T = randomBytes(t);
      const y = ff1.encrypt(x, T);
      expect(y).toHaveLength(n);
      expect(y.every((d) => d >= 0 && d < radix)).toBe(true);
      expect(y).not.toEqual(x);
      expect(ff1.decrypt(y, T)).toEqual(x);
      expect(ff1.encrypt(x, Buffer.concat([T, Buffer.from([0])]))).not.toEqual(y);
    }
  });
});

/** the n-bit big-endian digit array of x, as FF1 radix 2 reads it */
function bitsOf(x: bigint, n: number): number[] {
  const out: number[] = [];
  for (let k = n - 1; k >= 0; k--) out.push(Number((x >> BigInt(k)) & 1n));
  return out;
}
function valueOf(d: number[]): bigint {
  return d.reduce((acc, bit) => (acc << 1n) | BigInt(bit), 0n);
}

describe('BinaryFF1 agrees with the spec-literal FF1 (radix 2)', () => {
  const randomBig = (n: number) => BigInt.asUintN(n, randomBytes(8).readBigUInt64BE(0));

  it.each([20, 21, 22, 31, 32, 33, 40, 47, 52, 53, 54, 62, 63, 64])('%i bits, tweaks of 0..20 bytes', (n) => {
    const key = randomBytes(16);
    const aes = new AesBlockCipher(key);
    const ref = new FF1(aes, 2);
    const fast = new BinaryFF1(aes, n);
    for (let t = 0; t <= 20; t++) {
      const T = randomBytes(t);
      const base = fast.roundBase(T);
      for (let k = 0; k < 6; k++) {
        const x = k === 0 ? 0n : k === 1 ? (1n << BigInt(n)) - 1n : randomBig(n);
        const want = valueOf(ref.encrypt(bitsOf(x, n), T));
        const y = fast.encryptBigInt(x, base);
        expect(y).toBe(want);
        expect(fast.decryptBigInt(y, base)).toBe(x);
        expect(valueOf(ref.decrypt(bitsOf(y, n), T))).toBe(x);
        if (n <= 53) {
          expect(fast.encryptNumber(Number(x), base)).toBe(Number(want));
          expect(fast.decryptNumber(Number(want), base)).toBe(Number(x));
        }
      }
    }
  });

  it('the batch path gives the single path answers, both ways', () => {
    for (const n of [20, 22, 33, 63, 64]) {
      const fast = new BinaryFF1(randomBytes(24), n);
      const base = fast.roundBase('batch');
      const xs = Array.from({ length: 257 }, () => randomBig(n));
      const v = BigInt(fast.v);
      const his = Uint32Array.from(xs, (x) => Number(x >> v));
      const los = Uint32Array.from(xs, (x) => Number(BigInt.asUintN(fast.v, x)));
      fast.cryptHalvesBatch(his, los, xs.length, base, true);
      const ys = xs.map((_, j) => (BigInt(his[j]) << v) | BigInt(los[j]));
      expect(ys).toEqual(xs.map((x) => fast.encryptBigInt(x, base)));
      fast.cryptHalvesBatch(his, los, xs.length, base, false);
      expect(xs.map((_, j) => (BigInt(his[j]) << v) | BigInt(los[j]))).toEqual(xs);
    }
  });

  it('refuses widths outside 20..64', () => {
    expect(() => new BinaryFF1(randomBytes(16), 19)).toThrow(RangeError);
    expect(() => new BinaryFF1(randomBytes(16), 65)).toThrow(RangeError);
  });
});
