/**
 * Exact decimal text of a 63-bit value given as two halves, value = hi * 2^32 + lo, without
 * BigInt. 2^32 = 4294 * 10^6 + 967296, so
 *   value = (hi * 4294) * 10^6 + (hi * 967296 + lo)
 * where hi * 967296 + lo < 2^31 * 967296 + 2^32 < 2.1e15 and hi * 4294 < 9.3e12: every step is
 * an exact double. One carry of the low part into the high part gives the digits.
 */
const TWO32_HIGH = 4294; // floor(2^32 / 10^6)
const TWO32_LOW = 967296; // 2^32 mod 10^6
const MILLION = 1_000_000;
const PAD6 = ['', '00000', '0000', '000', '00', '0', ''];

/** hi: 0 <= hi < 2^31, lo: 0 <= lo < 2^32, both integers. */
export function decimal63(hi: number, lo: number): string {
  if (hi === 0) return String(lo);
  const low = hi * TWO32_LOW + lo;
  const carry = Math.floor(low / MILLION);
  const high = hi * TWO32_HIGH + carry;
  const rest = low - carry * MILLION;
  return high === 0 ? String(rest) : String(high) + pad6(rest);
}

/** rest as exactly six digits */
export function pad6(rest: number): string {
  const s = String(rest);
  return PAD6[s.length] + s;
}

/** The halves of a bigint below 2^63: for tests and the odd caller holding a bigint. */
export function toHalves(value: bigint): { hi: number; lo: number } {
  return { hi: Number(value >> 32n), lo: Number(value & 0xffffffffn) };
}
