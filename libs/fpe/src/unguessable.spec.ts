import { BitPermutation, IdPermutation } from './id-permutation';

/**
 * Unguessability: chi-square tests on consecutive outputs, with fixed keys (deterministic). Each
 * statistic must fall inside the two-sided band of chi-square with 255 degrees of freedom that a
 * random source leaves with probability 1e-4 on each side (a strict band because ten statistics
 * are tested): too high means the buckets are uneven (structure to exploit), too low means they
 * are more even than chance (a counter's low bits). A plain sequence must fail each one (its
 * statistics are 0 or in the tens of thousands), ours pass each one.
 */

const KEY = Buffer.from('8d2e60f1a57c4b39b0e4c1d27f9a3e6658c1f0ab2d934e7c16a5b8e2f4d0c7a9', 'hex');
const MOD63 = 1n << 63n;
const BUCKETS = 256;
const N = 1 << 16; // 256 expected per bucket

/** Wilson-Hilferty: the chi-square(df) quantile at standard normal z */
function chiSquareQuantile(df: number, z: number): number {
  const c = 2 / (9 * df);
  return df * (1 - c + z * Math.sqrt(c)) ** 3;
}
const LOW = chiSquareQuantile(BUCKETS - 1, -3.719); // about 179.4: p = 1e-4 in the low tail
const HIGH = chiSquareQuantile(BUCKETS - 1, 3.719); // about 347.7: p = 1e-4 in the high tail

function chiSquare(buckets: number[]): number {
  const total = buckets.reduce((a, b) => a + b, 0);
  const expected = total / buckets.length;
  return buckets.reduce((acc, o) => acc + (o - expected) ** 2 / expected, 0);
}

/** top 8 bits of (y[i+1] - y[i]) mod 2^63 */
function diffTopBits(ys: bigint[]): number[] {
  const b = new Array<number>(BUCKETS).fill(0);
  for (let i = 1; i < ys.length; i++) b[Number((((ys[i] - ys[i - 1]) % MOD63) + MOD63) % MOD63 >> 55n)]++;
  return b;
}

/** low 8 bits of each output */
function lowBits(ys: bigint[]): number[] {
  const b = new Array<number>(BUCKETS).fill(0);
  for (const y of ys) b[Number(y & 0xffn)]++;
  return b;
}

/** serial test: (low 4 bits of y[i], low 4 bits of y[i+1]) */
function lowBitPairs(ys: bigint[]): number[] {
  const b = new Array<number>(BUCKETS).fill(0);
  for (let i = 1; i < ys.length; i++) b[Number(((ys[i - 1] & 0xfn) << 4n) | (ys[i] & 0xfn))]++;
  return b;
}

/** top 8 bits of each 63-bit output */
function topBits(ys: bigint[]): number[] {
  const b = new Array<number>(BUCKETS).fill(0);
  for (const y of ys) b[Number(y >> 55n)]++;
  return b;
}

const within = (x: number) => x > LOW && x < HIGH;

describe('unguessability: chi-square on consecutive ids', () => {
  it('has the expected bounds', () => {
    expect(LOW).toBeGreaterThan(178);
    expect(LOW).toBeLessThan(181);
    expect(HIGH).toBeGreaterThan(346);
    expect(HIGH).toBeLessThan(350);
  });

  const starts: [string, bigint][] = [
    ['ids from 1', 1n],
    ['ids from 10^12', 1_000_000_000_000n],
  ];
  const tests: [string, (ys: bigint[]) => number[]][] = [
    ['top bits of consecutive differences', diffTopBits],
    ['low 8 bits', lowBits],
    ['pairs of consecutive low nibbles', lowBitPairs],
    ['top 8 bits', topBits],
  ];

  describe.each(starts)('%s', (_name, start) => {
    const plain = Array.from({ length: N }, (_, i) => start + BigInt(i));
    const ours = new IdPermutation(KEY, 'invoices').encryptMany(plain);

    it.each(tests)('%s: a plain sequence fails, ours passes', (_test, bucket) => {
      const p = chiSquare(bucket(plain));
      const o = chiSquare(bucket(ours));
      expect({ plain: p, passes: within(p) }).toEqual({ plain: p, passes: false });
      expect({ ours: o, passes: within(o) }).toEqual({ ours: o, passes: true });
    });
  });

  it('permuted snowflake low bits (22 bits, one millisecond tweak): sequence numbers 0..65535 look random', () => {
    const perm = new BitPermutation(22, KEY);
    const seqs = Array.from({ length: N }, (_, i) => i);
    const out = perm.encryptMany(seqs, 1_767_225_600_000).map(BigInt);
    const plain = seqs.map(BigInt);
    // top 8 of the 22 bits of the differences mod 2^22, and low-nibble pairs
    const top22 = (ys: bigint[]) => {
      const b = new Array<number>(BUCKETS).fill(0);
      for (let i = 1; i < ys.length; i++) b[Number(BigInt.asUintN(22, ys[i] - ys[i - 1]) >> 14n)]++;
      return b;
    };
    expect(within(chiSquare(top22(plain)))).toBe(false);
    expect(within(chiSquare(top22(out)))).toBe(true);
    expect(within(chiSquare(lowBitPairs(plain)))).toBe(false);
    expect(within(chiSquare(lowBitPairs(out)))).toBe(true);
  });
});
