import { AesBlockCipher, BinaryFF1 } from './ff1';

/**
 * A tweak: bytes, a string (its UTF-8 bytes) or a non-negative safe integer (its 8-byte big-endian
 * form, e.g. a millisecond timestamp; such a tweak costs nothing to change per call).
 */
export type PermutationTweak = Uint8Array | string | number;

function tweakToBytes(tweak: PermutationTweak): Uint8Array {
  if (typeof tweak === 'string') return Buffer.from(tweak, 'utf8');
  if (typeof tweak === 'number') {
    if (!Number.isSafeInteger(tweak) || tweak < 0) throw new RangeError(`numeric tweak must be a non-negative safe integer, got ${tweak}`);
    const out = Buffer.alloc(8);
    out.writeBigUInt64BE(BigInt(tweak));
    return out;
  }
  return tweak;
}

/** values per AES call in the batch paths (64 KiB of blocks) */
const CHUNK = 4096;

/**
 * A keyed, tweakable permutation of the w-bit integers 0..2^w-1 (20 <= w <= 64): FF1 radix 2 over
 * w bits (the value's big-endian binary form). Numbers in and out for w <= 53; bigints always.
 * The snowflake feature permutes its low (worker, sequence) bits with the millisecond timestamp as
 * a per-call numeric tweak.
 */
export class BitPermutation {
  readonly bits: number;
  private readonly core: BinaryFF1;
  private readonly base: Buffer;
  private readonly callBase = Buffer.alloc(16);
  private readonly limit: number;
  private readonly bigLimit: bigint;

  constructor(bits: number, key: Uint8Array | AesBlockCipher, tweak: PermutationTweak = '') {
    this.core = new BinaryFF1(key, bits);
    this.bits = bits;
    this.limit = 2 ** bits;
    this.bigLimit = 1n << BigInt(bits);
    this.base = this.baseFor(tweak, Buffer.alloc(16));
  }

  private baseFor(tweak: PermutationTweak | undefined, out: Buffer): Buffer {
    if (tweak === undefined) return this.base;
    if (typeof tweak === 'number') return this.core.roundBaseUint(tweak, out);
    return this.core.roundBase(tweakToBytes(tweak), out);
  }

  private checkNumber(x: number): void {
    if (this.bits > 53) throw new TypeError(`a ${this.bits}-bit permutation takes bigints, not numbers`);
    if (!Number.isInteger(x) || x < 0 || x >= this.limit) throw new RangeError(`${x} is outside 0..2^${this.bits}-1`);
  }

  private checkBig(x: bigint): void {
    if (x < 0n || x >= this.bigLimit) throw new RangeError(`${x} is outside 0..2^${this.bits}-1`);
  }

  /** x's image; `tweak` overrides the constructor's tweak for this call */
  encrypt(x: number, tweak?: PermutationTweak): number;
  encrypt(x: bigint, tweak?: PermutationTweak): bigint;
  encrypt(x: number | bigint, tweak?: PermutationTweak): number | bigint {
    const base = this.baseFor(tweak, this.callBase);
    if (typeof x === 'number') {
      this.checkNumber(x);
      return this.core.encryptNumber(x, base);
    }
    this.checkBig(x);
    return this.core.encryptBigInt(x, base);
  }

  /** the preimage of y under the same tweak */
  decrypt(y: number, tweak?: PermutationTweak): number;
  decrypt(y: bigint, tweak?: PermutationTweak): bigint;
  decrypt(y: number | bigint, tweak?: PermutationTweak): number | bigint {
    const base = this.baseFor(tweak, this.callBase);
    if (typeof y === 'number') {
      this.checkNumber(y);
      return this.core.decryptNumber(y, base);
    }
    this.checkBig(y);
    return this.core.decryptBigInt(y, base);
  }

  /** encrypts many numbers (w <= 53) under one tweak: ten AES calls per 4,096 values */
  encryptMany(xs: ArrayLike<number>, tweak?: PermutationTweak): number[] {
    return this.many(xs, tweak, true);
  }

  decryptMany(ys: ArrayLike<number>, tweak?: PermutationTweak): number[] {
    return this.many(ys, tweak, false);
  }

  private many(xs: ArrayLike<number>, tweak: PermutationTweak | undefined, encrypt: boolean): number[] {
    const base = Buffer.from(this.baseFor(tweak, this.callBase));
    const vPow = 2 ** this.core.v;
    const out = new Array<number>(xs.length);
    const his = new Uint32Array(Math.min(CHUNK, xs.length));
    const los = new Uint32Array(his.length);
    for (let from = 0; from < xs.length; from += CHUNK) {
      const count = Math.min(CHUNK, xs.length - from);
      for (let j = 0; j < count; j++) {
        const x = xs[from + j];
        this.checkNumber(x);
        const hi = Math.floor(x / vPow);
        his[j] = hi;
        los[j] = x - hi * vPow;
      }
      this.core.cryptHalvesBatch(his, los, count, base, encrypt);
      for (let j = 0; j < count; j++) out[from + j] = his[j] * vPow + los[j];
    }
    return out;
  }
}

const MAX_ID = (1n << 63n) - 1n;
const DECIMAL_ID = /^[1-9][0-9]{0,18}$/;

function parseId(s: string): bigint {
  if (typeof s !== 'string' || !DECIMAL_ID.test(s)) throw new RangeError(`not a canonical decimal id in 1..2^63-1: ${String(s)}`);
  const x = BigInt(s);
  if (x > MAX_ID) throw new RangeError(`id ${s} is over 2^63-1`);
  return x;
}

/**
 * A keyed bijection on the ids 1..2^63-1 (public ids of one key): FF1 radix 2 over 63 bits with the
 * key name as tweak, cycle-walked so 0 never comes out (if FF1 gives 0, encrypt again; decrypt
 * walks back the same way). Unique, 63-bit and positive, like the ids it hides.
 */
export class IdPermutation {
  static readonly MIN = 1n;
  static readonly MAX = MAX_ID;

  private readonly core: BinaryFF1;
  private readonly base: Buffer;
  private his = new Uint32Array(0);
  private los = new Uint32Array(0);

  constructor(key: Uint8Array | AesBlockCipher, tweak: Uint8Array | string) {
    this.core = new BinaryFF1(key, 63);
    this.base = this.core.roundBase(tweakToBytes(tweak));
  }

  private check(x: bigint): void {
    if (typeof x !== 'bigint') throw new TypeError(`ids are bigints, got ${typeof x}`);
    if (x < 1n || x > MAX_ID) throw new RangeError(`id ${x} is outside 1..2^63-1`);
  }

  /** FF1 then cycle-walk past 0; result in core.outHi / core.outLo */
  private encHalves(hi: number, lo: number): void {
    const core = this.core;
    core.encryptHalves(hi, lo, this.base);
    while (core.outHi === 0 && core.outLo === 0) core.encryptHalves(0, 0, this.base);
  }

  private decHalves(hi: number, lo: number): void {
    const core = this.core;
    core.decryptHalves(hi, lo, this.base);
    while (core.outHi === 0 && core.outLo === 0) core.decryptHalves(0, 0, this.base);
  }

  encrypt(x: bigint): bigint {
    this.check(x);
    this.encHalves(Number(x >> 32n), Number(x & 0xffffffffn));
    return (BigInt(this.core.outHi) << 32n) | BigInt(this.core.outLo);
  }

  decrypt(y: bigint): bigint {
    this.check(y);
    this.decHalves(Number(y >> 32n), Number(y & 0xffffffffn));
    return (BigInt(this.core.outHi) << 32n) | BigInt(this.core.outLo);
  }

  /** encrypt on canonical decimal text (no sign, no leading zeros) */
  encryptString(s: string): string {
    return this.encrypt(parseId(s)).toString();
  }

  decryptString(s: string): string {
    return this.decrypt(parseId(s)).toString();
  }

  /**
   * Encrypts many ids: ten AES calls per 4,096 ids instead of ten per id. Synchronous: callers
   * with large batches should chunk them to keep the event loop responsive.
   */
  encryptMany(xs: readonly bigint[]): bigint[] {
    return this.many(xs, true);
  }

  decryptMany(ys: readonly bigint[]): bigint[] {
    return this.many(ys, false);
  }

  /** encryptMany on canonical decimal text */
  encryptStrings(xs: readonly string[]): string[] {
    return this.many(xs.map(parseId), true).map(String);
  }

  decryptStrings(ys: readonly string[]): string[] {
    return this.many(ys.map(parseId), false).map(String);
  }

  private many(xs: readonly bigint[], encrypt: boolean): bigint[] {
    const out = new Array<bigint>(xs.length);
    if (this.his.length < Math.min(CHUNK, xs.length)) {
      this.his = new Uint32Array(Math.min(CHUNK, xs.length));
      this.los = new Uint32Array(this.his.length);
    }
    const { his, los, core } = this;
    for (let from = 0; from < xs.length; from += CHUNK) {
      const count = Math.min(CHUNK, xs.length - from);
      for (let j = 0; j < count; j++) {
        const x = xs[from + j];
        this.check(x);
        his[j] = Number(x >> 32n);
        los[j] = Number(x & 0xffffffffn);
      }
      core.cryptHalvesBatch(his, los, count, this.base, encrypt);
      for (let j = 0; j < count; j++) {
        if (his[j] === 0 && los[j] === 0) {
          // cycle-walk past 0 (about once in 2^63 values)
          if (encrypt) this.encHalves(0, 0);
          else this.decHalves(0, 0);
          his[j] = core.outHi;
          los[j] = core.outLo;
        }
        out[from + j] = (BigInt(his[j]) << 32n) | BigInt(los[j]);
      }
    }
    return out;
  }
}
