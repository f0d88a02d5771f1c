import { BinaryFF1 } from './ff1';
import { BitPermutation, IdPermutation } from './id-permutation';
import { deriveFf1Key } from './secret';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const MAX = (1n << 63n) - 1n;

/**
 * Known answers for our 63-bit mapping (AES-256 key 00..1f, tweak 'orders'). Recorded from this
 * implementation and checked once against an independent FF1 (@noble/ciphers 1.x FF1 radix 2 on
 * the same 63-bit strings): any change of outputs, which would repeat or reshuffle public ids,
 * fails here.
 */
const KNOWN: [bigint, bigint][] = [
  [1n, 3225222220399814638n],
  [2n, 7400252126391554832n],
  [3n, 1118982604726975214n],
  [1000n, 8660677480539914496n],
  [4294967296n, 4930312136770719318n],
  [9007199254740992n, 3386263513912404887n], // 2^53
  [4611686018427387904n, 3336274961081179996n], // 2^62
  [9223372036854775806n, 802561380231605018n], // 2^63 - 2
  [9223372036854775807n, 2934272710623533476n], // 2^63 - 1
];

describe('IdPermutation: known answers', () => {
  const perm = new IdPermutation(KEY, 'orders');

  it.each(KNOWN)('%s -> %s and back', (x, y) => {
    expect(perm.encrypt(x)).toBe(y);
    expect(perm.decrypt(y)).toBe(x);
    expect(perm.encryptString(x.toString())).toBe(y.toString());
    expect(perm.decryptString(y.toString())).toBe(x.toString());
  });

  it('gives the same answers in batches (bigint and text)', () => {
    expect(perm.encryptMany(KNOWN.map(([x]) => x))).toEqual(KNOWN.map(([, y]) => y));
    expect(perm.decryptMany(KNOWN.map(([, y]) => y))).toEqual(KNOWN.map(([x]) => x));
    expect(perm.encryptStrings(KNOWN.map(([x]) => String(x)))).toEqual(KNOWN.map(([, y]) => String(y)));
    expect(perm.decryptStrings(KNOWN.map(([, y]) => String(y)))).toEqual(KNOWN.map(([x]) => String(x)));
  });

  it('pins the ID_SECRET -> key -> id chain', () => {
    const p = new IdPermutation(deriveFf1Key('kat secret: 3f6c0b1e9d2a4c7b8e5f1a2d3c4b5a69'), 'orders');
    expect(p.encrypt(1n)).toBe(976089865854536488n);
    expect(p.encrypt(2n)).toBe(2726076941166183631n);
    expect(p.encrypt(MAX)).toBe(4065255146481034460n);
  });
});

describe('IdPermutation: domain 1..2^63-1 and cycle walking', () => {
  const perm = new IdPermutation(KEY, 'orders');

  it('refuses 0, negatives, 2^63 and above, and non-canonical text', () => {
    for (const bad of [0n, -1n, 1n << 63n, 1n << 64n]) {
      expect(() => perm.encrypt(bad)).toThrow(RangeError);
      expect(() => perm.decrypt(bad)).toThrow(RangeError);
      expect(() => perm.encryptMany([1n, bad])).toThrow(RangeError);
    }
    expect(() => perm.encrypt(5 as unknown as bigint)).toThrow(TypeError);
    for (const bad of ['0', '01', '-1', '+1', '1.0', ' 1', '1e3', '', 'abc', '9223372036854775808', '99999999999999999999']) {
      expect(() => perm.encryptString(bad)).toThrow(RangeError);
      expect(() => perm.decryptStrings(['1', bad])).toThrow(RangeError);
    }
    expect(perm.encryptString('9223372036854775807')).toBe('2934272710623533476');
  });

  it('walks past 0: the id FF1 would send to 0 gets FF1(0) instead, and back', () => {
    const raw = new BinaryFF1(KEY, 63);
    const base = raw.roundBase('orders');
    const toZero = raw.decryptBigInt(0n, base); // FF1(toZero) = 0
    const ofZero = raw.encryptBigInt(0n, base);
    expect(toZero).not.toBe(0n);
    expect(ofZero).not.toBe(0n);
    expect(perm.encrypt(toZero)).toBe(ofZero);
    expect(perm.decrypt(ofZero)).toBe(toZero);
    expect(perm.encryptMany([1n, toZero, 2n])).toEqual([perm.encrypt(1n), ofZero, perm.encrypt(2n)]);
    expect(perm.decryptMany([ofZero])).toEqual([toZero]);
    // everywhere else it is plain FF1
    for (const x of [1n, 2n, 12345n, MAX]) expect(perm.encrypt(x)).toBe(raw.encryptBigInt(x, base));
  });
});

describe('IdPermutation: 1,000,000 sequential ids', () => {
  const N = 1_000_000;
  const perm = new IdPermutation(KEY, 'orders');
  const xs = Array.from({ length: N }, (_, i) => BigInt(i + 1));
  const ys = perm.encryptMany(xs);

  it('are distinct, within 1..2^63-1, and decrypt back', () => {
    const sorted = BigUint64Array.from(ys).sort();
    expect(sorted[0] >= 1n).toBe(true);
    expect(sorted[N - 1] <= MAX).toBe(true);
    let collisions = 0;
    for (let i = 1; i < N; i++) if (sorted[i] === sorted[i - 1]) collisions++;
    expect(collisions).toBe(0);
    const back = perm.decryptMany(ys);
    let wrong = 0;
    for (let i = 0; i < N; i++) if (back[i] !== xs[i]) wrong++;
    expect(wrong).toBe(0);
  });

  it('the single-id path agrees with the batch path (every 50th id, both ways)', () => {
    for (let i = 0; i < N; i += 50) {
      if (perm.encrypt(xs[i]) !== ys[i]) throw new Error(`encrypt(${xs[i]}) differs from the batch`);
      if (perm.decrypt(ys[i]) !== xs[i]) throw new Error(`decrypt(${ys[i]}) is not ${xs[i]}`);
    }
    expect(perm.encryptString('1000000')).toBe(String(ys[N - 1]));
  });

  it('spread over the whole range: about half are over 2^62, few are small', () => {
    const high = ys.filter((y) => y >= 1n << 62n).length;
    expect(Math.abs(high - N / 2)).toBeLessThan(5 * Math.sqrt(N / 4));
    expect(ys.filter((y) => y < 1n << 36n).length).toBe(0); // expected 1e6 * 2^-27, under 0.01
  });
});

/** how many of 63 bits differ, on average, between two sequences */
function meanBitDistance(a: bigint[], b: bigint[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    let d = a[i] ^ b[i];
    while (d) {
      sum += Number(d & 1n);
      d >>= 1n;
    }
  }
  return sum / a.length;
}

describe('different keys, secrets and tweaks give unrelated sequences', () => {
  const N = 20_000;
  const xs = Array.from({ length: N }, (_, i) => BigInt(i + 1));
  const base = new IdPermutation(KEY, 'orders').encryptMany(xs);
  const flipped = Buffer.from(KEY);
  flipped[31] ^= 1; // one key bit
  const others: [string, bigint[]][] = [
    ['a key one bit away', new IdPermutation(flipped, 'orders').encryptMany(xs)],
    ['another tweak (key name)', new IdPermutation(KEY, 'orderz').encryptMany(xs)],
    ['the same key name one byte longer', new IdPermutation(KEY, 'orders ').encryptMany(xs)],
    ['AES-128 with the first half of the key', new IdPermutation(KEY.subarray(0, 16), 'orders').encryptMany(xs)],
  ];
  const a = new IdPermutation(deriveFf1Key('first secret, 0123456789abcdef'), 'orders').encryptMany(xs);
  const b = new IdPermutation(deriveFf1Key('first secret, 0123456789abcdeF'), 'orders').encryptMany(xs);

  it.each(others)('%s: no id in common position, about 31.5 of 63 bits differ', (_name, ys) => {
    expect(ys.filter((y, i) => y === base[i]).length).toBe(0);
    const d = meanBitDistance(base, ys);
    // mean of Binomial(63, 1/2) is 31.5, its sd over 20,000 samples about 0.028
    expect(Math.abs(d - 31.5)).toBeLessThan(0.15);
    expect(new Set([...ys, ...base]).size).toBeGreaterThan(2 * N - 2); // ~no shared values either
  });

  it('two secrets one character apart', () => {
    expect(a.filter((y, i) => y === b[i]).length).toBe(0);
    expect(Math.abs(meanBitDistance(a, b) - 31.5)).toBeLessThan(0.15);
  });
});

describe('BitPermutation', () => {
  it('is a bijection on all 2^20 values (snowflake timestamp tweak), and decrypts back', () => {
    const W = 20;
    const size = 1 << W;
    const perm = new BitPermutation(W, KEY);
    const all = Array.from({ length: size }, (_, i) => i);
    const tweak = 1_767_225_600_123; // a millisecond timestamp
    const ys = perm.encryptMany(all, tweak);
    const seen = new Uint8Array(size);
    let bad = 0;
    for (const y of ys) {
      if (!Number.isInteger(y) || y < 0 || y >= size || seen[y]) bad++;
      else seen[y] = 1;
    }
    expect(bad).toBe(0);
    expect(seen.every((s) => s === 1)).toBe(true);
    const back = perm.decryptMany(ys, tweak);
    expect(back.every((x, i) => x === i)).toBe(true);
    // the single path agrees
    for (let x = 0; x < size; x += 997) {
      expect(perm.encrypt(x, tweak)).toBe(ys[x]);
      expect(perm.decrypt(ys[x], tweak)).toBe(x);
    }
    // and another millisecond is another permutation
    const next = perm.encryptMany(all.slice(0, 10_000), tweak + 1);
    expect(next.filter((y, i) => y === ys[i]).length).toBeLessThan(5); // expected 10,000 / 2^20
  });

  it('known answers (22 bits, timestamp tweak) as an independent FF1 gives them', () => {
    const perm = new BitPermutation(22, KEY);
    const ms = 0x19a2b3c4d5e;
    const known: [number, number][] = [
      [0, 1253432],
      [1, 2481062],
      [2, 3793739],
      [4194303, 3286206],
    ];
    for (const [x, y] of known) {
      expect(perm.encrypt(x, ms)).toBe(y);
      expect(perm.decrypt(y, ms)).toBe(x);
      expect(perm.encrypt(BigInt(x), ms)).toBe(BigInt(y));
      // a numeric tweak is its 8-byte big-endian form
      expect(perm.encrypt(x, Buffer.from('0000019a2b3c4d5e', 'hex'))).toBe(y);
      expect(new BitPermutation(22, KEY, ms).encrypt(x)).toBe(y);
    }
  });

  it('string tweaks are their UTF-8 bytes; long tweaks work too', () => {
    const perm = new BitPermutation(30, KEY, 'clé');
    expect(perm.encrypt(123456)).toBe(perm.encrypt(123456, Buffer.from('clé', 'utf8')));
    const long = 'a tweak longer than the 11 bytes that fit in the last PRF block';
    const y = perm.encrypt(123456, long);
    expect(y).not.toBe(perm.encrypt(123456));
    expect(perm.decrypt(y, long)).toBe(123456);
  });

  it('takes bigints on any width and numbers up to 53 bits', () => {
    const p64 = new BitPermutation(64, KEY);
    const top = (1n << 64n) - 1n;
    expect(p64.decrypt(p64.encrypt(top))).toBe(top);
    expect(() => p64.encrypt(5)).toThrow(TypeError);
    expect(() => p64.encrypt(1n << 64n)).toThrow(RangeError);
    const p53 = new BitPermutation(53, KEY);
    const x = 2 ** 53 - 1;
    const y = p53.encrypt(x);
    expect(y).toBeLessThanOrEqual(x);
    expect(p53.decrypt(y)).toBe(x);
    expect(p53.encrypt(BigInt(x))).toBe(BigInt(y));
    expect(() => p53.encrypt(2 ** 53)).toThrow(RangeError);
    expect(() => p53.encrypt(-1)).toThrow(RangeError);
    expect(() => p53.encrypt(1.5)).toThrow(RangeError);
    expect(() => p53.encrypt(1, -1)).toThrow(RangeError);
    expect(() => new BitPermutation(19, KEY)).toThrow(RangeError);
  });
});
