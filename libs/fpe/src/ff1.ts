import { Cipher, createCipheriv } from 'node:crypto';

/**
 * FF1 format-preserving encryption, NIST SP 800-38G (Rev. 1), Algorithms 7 and 8, over the AES
 * of node:crypto. Two implementations share one AES object per key:
 *
 * - `FF1`: any radix 2..2^16 and any length, on digit arrays, with BigInt numerals. It follows the
 *   spec step by step and is checked against every NIST sample vector.
 * - `BinaryFF1`: radix 2, 20..64 bits (both Feistel halves fit in 32 bits), on plain numbers,
 *   with the PRF's fixed blocks precomputed per tweak: one AES block per round. Tests check that
 *   it agrees with `FF1` bit for bit.
 *
 * The AES key is expanded once, when the object is made (the cipher object is reused: ECB without
 * padding never holds data back between `update` calls).
 */

export type Tweak = Uint8Array | string;

const EMPTY = new Uint8Array(0);

function tweakBytes(tweak: Tweak | undefined): Uint8Array {
  if (tweak === undefined) return EMPTY;
  return typeof tweak === 'string' ? Buffer.from(tweak, 'utf8') : tweak;
}

/** AES on whole 16-byte blocks (ECB, no padding) with the key expanded once. */
export class AesBlockCipher {
  private readonly cipher: Cipher;

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
      throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
    }
    this.cipher = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    this.cipher.setAutoPadding(false);
  }

  /** CIPH_K of each 16-byte block of `blocks` (length a multiple of 16); a new buffer */
  encrypt(blocks: Uint8Array): Buffer {
    if (blocks.length % 16 !== 0) throw new RangeError('AES input must be whole 16-byte blocks');
    return this.cipher.update(blocks);
  }
}

function cipherOf(key: Uint8Array | AesBlockCipher): AesBlockCipher {
  return key instanceof AesBlockCipher ? key : new AesBlockCipher(key);
}

/** P (SP 800-38G Alg. 7 step 5): [1]^1 [2]^1 [1]^1 [radix]^3 [10]^1 [u mod 256]^1 [n]^4 [t]^4 */
function blockP(radix: number, u: number, n: number, t: number): Buffer {
  const p = Buffer.alloc(16);
  p[0] = 1;
  p[1] = 2;
  p[2] = 1;
  p.writeUIntBE(radix, 3, 3);
  p[6] = 10;
  p[7] = u & 0xff;
  p.writeUInt32BE(n >>> 0, 8);
  p.writeUInt32BE(t >>> 0, 12);
  return p;
}

/** ((-x) mod 16), in 0..15 */
function padTo16(x: number): number {
  return (16 - (x % 16)) % 16;
}

/** CBC-MAC over whole blocks of msg[from, to), starting from chaining value `state` (not modified) */
function cbcMac(aes: AesBlockCipher, msg: Uint8Array, from: number, to: number, state: Uint8Array): Buffer {
  let y: Buffer = Buffer.from(state);
  const x = Buffer.alloc(16);
  for (let off = from; off < to; off += 16) {
    for (let k = 0; k < 16; k++) x[k] = y[k] ^ msg[off + k];
    y = aes.encrypt(x);
  }
  return y;
}

export interface FF1Options {
  /** shortest accepted input; default: the least n >= 2 with radix^n >= 1,000,000 (SP 800-38G Rev. 1) */
  minLength?: number;
  /** longest accepted input; default 2^32 - 1 */
  maxLength?: number;
  /** longest accepted tweak in bytes; default 2^32 - 1 */
  maxTweakLength?: number;
}

/**
 * FF1 for any radix 2..65536 on digit arrays (most significant digit first, as NUM_radix reads
 * them). Straightforward and BigInt-based: for the hot 2..64-bit binary domain use `BinaryFF1`.
 */
export class FF1 {
  readonly radix: number;
  readonly minLength: number;
  readonly maxLength: number;
  readonly maxTweakLength: number;
  private readonly aes: AesBlockCipher;
  private readonly bigRadix: bigint;

  constructor(key: Uint8Array | AesBlockCipher, radix: number, options: FF1Options = {}) {
    if (!Number.isInteger(radix) || radix < 2 || radix > 65536) {
      throw new RangeError(`FF1 radix must be an integer in 2..65536, got ${radix}`);
    }
    this.aes = cipherOf(key);
    this.radix = radix;
    this.bigRadix = BigInt(radix);
    let least = 2;
    while (radix ** least < 1_000_000) least++;
    this.minLength = options.minLength ?? least;
    this.maxLength = options.maxLength ?? 2 ** 32 - 1;
    this.maxTweakLength = options.maxTweakLength ?? 2 ** 32 - 1;
    if (!Number.isInteger(this.minLength) || this.minLength < 2 || radix ** this.minLength < 1_000_000) {
      throw new RangeError(`FF1 needs minLength >= 2 and radix^minLength >= 1,000,000 (radix ${radix}, minLength ${this.minLength})`);
    }
    if (!Number.isInteger(this.maxLength) || this.maxLength < this.minLength || this.maxLength > 2 ** 32 - 1) {
      throw new RangeError(`FF1 maxLength must be in minLength..2^32-1, got ${this.maxLength}`);
    }
  }

  encrypt(x: ArrayLike<number>, tweak?: Tweak): number[] {
    return this.crypt(x, tweakBytes(tweak), true);
  }

  decrypt(x: ArrayLike<number>, tweak?: Tweak): number[] {
    return this.crypt(x, tweakBytes(tweak), false);
  }

  private num(x: ArrayLike<number>, from: number, to: number): bigint {
    let acc = 0n;
    for (let k = from; k < to; k++) acc = acc * this.bigRadix + BigInt(x[k]);
    return acc;
  }

  private str(value: bigint, m: number, out: number[]): void {
    const start = out.length;
    for (let k = 0; k < m; k++) out.push(0);
    for (let k = m - 1; k >= 0; k--) {
      out[start + k] = Number(value % this.bigRadix);
      value /= this.bigRadix;
    }
  }

  private crypt(x: ArrayLike<number>, T: Uint8Array, encrypt: boolean): number[] {
    const n = x.length;
    if (n < this.minLength || n > this.maxLength) {
      throw new RangeError(`FF1 input length must be in ${this.minLength}..${this.maxLength}, got ${n}`);
    }
    for (let k = 0; k < n; k++) {
      const digit = x[k];
      if (!Number.isInteger(digit) || digit < 0 || digit >= this.radix) {
        throw new RangeError(`FF1 digit ${digit} at ${k} is not in 0..${this.radix - 1}`);
      }
    }
    const t = T.length;
    if (t > this.maxTweakLength) throw new RangeError(`FF1 tweak is ${t} bytes, over ${this.maxTweakLength}`);

    const u = Math.floor(n / 2); // step 1
    const v = n - u;
    const modU = this.bigRadix ** BigInt(u);
    const modV = this.bigRadix ** BigInt(v);
    // step 3: b = ceil(ceil(v * log2(radix)) / 8), exactly: the bytes of the bit length of radix^v - 1
    const b = Math.ceil((modV - 1n).toString(2).length / 8);
    const d = 4 * Math.ceil(b / 4) + 4; // step 4

    // P || Q with Q = T || [0]^((-t-b-1) mod 16) || [i]^1 || [NUM(B)]^b; only i and B change per round
    const pad = padTo16(t + b + 1);
    const msg = Buffer.alloc(16 + t + pad + 1 + b);
    blockP(this.radix, u, n, t).copy(msg, 0);
    msg.set(T, 16);
    const iAt = 16 + t + pad;
    // the blocks before the one holding [i] are the same in every round: MAC them once
    const fixedEnd = iAt - (iAt % 16);
    const prefix = cbcMac(this.aes, msg, 0, fixedEnd, Buffer.alloc(16));
    const extraBlocks = Math.ceil(d / 16) - 1;
    const sBlocks = Buffer.alloc(16 * Math.max(1, extraBlocks));

    let A = this.num(x, 0, u);
    let B = this.num(x, u, n);
    for (let r = 0; r < 10; r++) {
      const i = encrypt ? r : 9 - r;
      const feed = encrypt ? B : A; // the half that goes through the PRF
      msg[iAt] = i;
      let rest = feed;
      for (let k = msg.length - 1; k > iAt; k--) {
        msg[k] = Number(rest & 0xffn);
        rest >>= 8n;
      }
      const R = cbcMac(this.aes, msg, fixedEnd, msg.length, prefix); // step 6.ii: R = PRF(P || Q)
      // step 6.iii: S = first d bytes of R || CIPH(R xor [1]^16) || ... || CIPH(R xor [ceil(d/16)-1]^16)
      let S: Buffer = R;
      if (extraBlocks > 0) {
        for (let j = 1; j <= extraBlocks; j++) {
          const blk = sBlocks.subarray(16 * (j - 1), 16 * j);
          R.copy(blk);
          for (let k = 15, jj = j; k >= 0 && jj > 0; k--, jj = Math.floor(jj / 256)) blk[k] ^= jj & 0xff;
        }
        S = Buffer.concat([R, this.aes.encrypt(sBlocks)]);
      }
      const y = BigInt('0x' + S.subarray(0, d).toString('hex')); // step 6.iv
      const mod = i % 2 === 0 ? modU : modV; // step 6.v: m = u for even i, v for odd
      if (encrypt) {
        const c = (A + y) % mod; // step 6.vi
        A = B;
        B = c;
      } else {
        let c = (B - y) % mod;
        if (c < 0n) c += mod;
        B = A;
        A = c;
      }
    }
    const out: number[] = [];
    this.str(A, u, out);
    this.str(B, v, out);
    return out;
  }
}

/**
 * FF1 with radix 2 on an n-bit domain, 20 <= n <= 64, on numbers. The input value x stands for the
 * bit string of its n-bit big-endian binary form, so A = the top u = floor(n/2) bits and B = the
 * low v = n - u bits (both at most 32 bits wide). With v <= 32, b <= 4 and d = 8, so each round's
 * y mod 2^m is bytes 4..7 of R. When the tweak is at most 15 - b bytes (11 for n >= 49), T sits in
 * the last PRF block with [i] and B, and the whole PRF is one AES block on (CIPH(P) xor that
 * block): a per-call tweak then costs a 16-byte xor.
 *
 * The results of the half-wise calls land in `outHi` / `outLo` (no allocation per call).
 */
export class BinaryFF1 {
  readonly bits: number;
  /** bits of the high half A (floor(n/2)) */
  readonly u: number;
  /** bits of the low half B (n - u) */
  readonly v: number;
  /** bytes of NUM(B) in Q */
  readonly b: number;
  /** longest tweak that fits in the last PRF block (free per call) */
  readonly shortTweakMax: number;
  outHi = 0;
  outLo = 0;

  private readonly aes: AesBlockCipher;
  private readonly iAt: number;
  private readonly maskU: number;
  private readonly maskV: number;
  private readonly vPow: number;
  /** CIPH_K(P) by tweak length, for short tweaks */
  private readonly cipheredP = new Map<number, Buffer>();
  private readonly block = Buffer.alloc(16);
  private batchBuf = Buffer.alloc(0);

  constructor(key: Uint8Array | AesBlockCipher, bits: number) {
    if (!Number.isInteger(bits) || bits < 20 || bits > 64) {
      throw new RangeError(`BinaryFF1 width must be 20..64 bits, got ${bits}`);
    }
    this.aes = cipherOf(key);
    this.bits = bits;
    this.u = Math.floor(bits / 2);
    this.v = bits - this.u;
    this.b = Math.ceil(this.v / 8);
    this.iAt = 15 - this.b;
    this.shortTweakMax = 15 - this.b;
    this.maskU = this.u === 32 ? 0xffffffff : 2 ** this.u - 1;
    this.maskV = this.v === 32 ? 0xffffffff : 2 ** this.v - 1;
    this.vPow = 2 ** this.v;
  }

  /**
   * The 16 bytes every round starts from for this tweak: the CBC-MAC chaining value before the last
   * block of P || Q, xor that block's fixed part (tweak tail and zero pad). Rounds then xor in [i]
   * and B. Writes into `out` when given (16 bytes).
   */
  roundBase(tweak: Tweak = EMPTY, out: Buffer = Buffer.alloc(16)): Buffer {
    const T = tweakBytes(tweak);
    const t = T.length;
    if (t <= this.shortTweakMax) {
      let cp = this.cipheredP.get(t);
      if (cp === undefined) {
        cp = this.aes.encrypt(blockP(2, this.u, this.bits, t));
        this.cipheredP.set(t, cp);
      }
      cp.copy(out);
      for (let k = 0; k < t; k++) out[k] ^= T[k];
      return out;
    }
    // long tweak: MAC P and every block of T || pad before the last one
    const pad = padTo16(t + this.b + 1);
    const msg = Buffer.alloc(16 + t + pad + 1 + this.b);
    blockP(2, this.u, this.bits, t).copy(msg, 0);
    msg.set(T, 16);
    const lastAt = msg.length - 16;
    const state = cbcMac(this.aes, msg, 0, lastAt, Buffer.alloc(16));
    for (let k = 0; k < 16; k++) out[k] = state[k] ^ msg[lastAt + k];
    return out;
  }

  /**
   * `roundBase` for the 8-byte big-endian tweak of a non-negative safe integer (a millisecond
   * timestamp, say), without allocating: a 16-byte xor.
   */
  roundBaseUint(value: number, out: Buffer): Buffer {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`numeric tweak must be a non-negative safe integer, got ${value}`);
    let cp = this.cipheredP.get(8);
    if (cp === undefined) {
      cp = this.aes.encrypt(blockP(2, this.u, this.bits, 8));
      this.cipheredP.set(8, cp);
    }
    cp.copy(out);
    const hi = Math.floor(value / 4294967296);
    const lo = value - hi * 4294967296;
    out[0] ^= hi >>> 24;
    out[1] ^= (hi >>> 16) & 0xff;
    out[2] ^= (hi >>> 8) & 0xff;
    out[3] ^= hi & 0xff;
    out[4] ^= lo >>> 24;
    out[5] ^= (lo >>> 16) & 0xff;
    out[6] ^= (lo >>> 8) & 0xff;
    out[7] ^= lo & 0xff;
    return out;
  }

  /** one round's PRF output y mod 2^32 for round i with the PRF-fed half `half` */
  private y(base: Buffer, i: number, half: number): number {
    const blk = this.block;
    blk[this.iAt] = base[this.iAt] ^ i;
    blk[15] = base[15] ^ (half & 0xff);
    if (this.b > 1) blk[14] = base[14] ^ ((half >>> 8) & 0xff);
    if (this.b > 2) blk[13] = base[13] ^ ((half >>> 16) & 0xff);
    if (this.b > 3) blk[12] = base[12] ^ (half >>> 24);
    return this.aes.encrypt(blk).readUInt32BE(4);
  }

  /** encrypts the halves (hi: top u bits, lo: low v bits); result in outHi / outLo */
  encryptHalves(hi: number, lo: number, base: Buffer): void {
    base.copy(this.block);
    const mu = this.maskU;
    const mv = this.maskV;
    let A = hi;
    let B = lo;
    for (let i = 0; i < 10; i += 2) {
      // even round: m = u; odd round: m = v
      let c = A + this.y(base, i, B);
      A = B;
      B = mu === 0xffffffff ? c >>> 0 : c & mu;
      c = A + this.y(base, i + 1, B);
      A = B;
      B = mv === 0xffffffff ? c >>> 0 : c & mv;
    }
    this.outHi = A;
    this.outLo = B;
  }

  /** decrypts the halves; result in outHi / outLo */
  decryptHalves(hi: number, lo: number, base: Buffer): void {
    base.copy(this.block);
    const mu = this.maskU;
    const mv = this.maskV;
    let A = hi;
    let B = lo;
    for (let i = 9; i > 0; i -= 2) {
      let c = B - this.y(base, i, A);
      B = A;
      A = mv === 0xffffffff ? c >>> 0 : c & mv;
      c = B - this.y(base, i - 1, A);
      B = A;
      A = mu === 0xffffffff ? c >>> 0 : c & mu;
    }
    this.outHi = A;
    this.outLo = B;
  }

  /**
   * Encrypts (or decrypts) `count` values in place, given as halves: ten AES calls for the whole
   * batch instead of ten per value. `base` is one round base for all.
   */
  cryptHalvesBatch(his: Uint32Array, los: Uint32Array, count: number, base: Buffer, encrypt: boolean): void {
    if (count === 0) return;
    if (this.batchBuf.length < count * 16) this.batchBuf = Buffer.alloc(count * 16);
    const buf = this.batchBuf.subarray(0, count * 16);
    for (let j = 0; j < count; j++) base.copy(buf, j * 16);
    const iAt = this.iAt;
    const b = this.b;
    const baseI = base[iAt];
    const b12 = base[12];
    const b13 = base[13];
    const b14 = base[14];
    const b15 = base[15];
    const mu = this.maskU;
    const mv = this.maskV;
    for (let r = 0; r < 10; r++) {
      const i = encrypt ? r : 9 - r;
      const feed = encrypt ? los : his;
      for (let j = 0, off = 0; j < count; j++, off += 16) {
        const half = feed[j];
        buf[off + iAt] = baseI ^ i;
        buf[off + 15] = b15 ^ (half & 0xff);
        if (b > 1) buf[off + 14] = b14 ^ ((half >>> 8) & 0xff);
        if (b > 2) buf[off + 13] = b13 ^ ((half >>> 16) & 0xff);
        if (b > 3) buf[off + 12] = b12 ^ (half >>> 24);
      }
      const R = this.aes.encrypt(buf);
      const mask = i % 2 === 0 ? mu : mv;
      if (encrypt) {
        for (let j = 0, off = 4; j < count; j++, off += 16) {
          const c = his[j] + R.readUInt32BE(off);
          his[j] = los[j];
          los[j] = mask === 0xffffffff ? c : c & mask; // Uint32Array stores mod 2^32
        }
      } else {
        for (let j = 0, off = 4; j < count; j++, off += 16) {
          const c = los[j] - R.readUInt32BE(off);
          los[j] = his[j];
          his[j] = mask === 0xffffffff ? c : c & mask;
        }
      }
    }
  }

  /** x (0 <= x < 2^bits, bits <= 53) encrypted, as a number */
  encryptNumber(x: number, base: Buffer): number {
    const hi = Math.floor(x / this.vPow);
    this.encryptHalves(hi, x - hi * this.vPow, base);
    return this.outHi * this.vPow + this.outLo;
  }

  decryptNumber(y: number, base: Buffer): number {
    const hi = Math.floor(y / this.vPow);
    this.decryptHalves(hi, y - hi * this.vPow, base);
    return this.outHi * this.vPow + this.outLo;
  }

  /** x (0 <= x < 2^bits) encrypted, as a bigint */
  encryptBigInt(x: bigint, base: Buffer): bigint {
    const v = BigInt(this.v);
    this.encryptHalves(Number(x >> v), Number(BigInt.asUintN(this.v, x)), base);
    return (BigInt(this.outHi) << v) | BigInt(this.outLo);
  }

  decryptBigInt(y: bigint, base: Buffer): bigint {
    const v = BigInt(this.v);
    this.decryptHalves(Number(y >> v), Number(BigInt.asUintN(this.v, y)), base);
    return (BigInt(this.outHi) << v) | BigInt(this.outLo);
  }
}
