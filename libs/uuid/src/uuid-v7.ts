import { Clock, systemClock } from '@app/core';
import { HEX, RandomPool } from './random-pool';

const COUNTER_BITS = 42; // 12 bits of rand_a and the top 30 bits of rand_b (RFC 9562, method 1)
const COUNTER_LIMIT = 2 ** COUNTER_BITS;
const SEED_LIMIT = 2 ** (COUNTER_BITS - 1); // a seed below half leaves >= 2^41 increments in one ms

/**
 * RFC 9562 version 7: 48-bit Unix ms, version 7, a 42-bit counter seeded at random each new ms,
 * variant 10, 32 random bits. Strictly increasing within a process: when the clock stalls or
 * steps back, the last ms is kept and the counter goes on; an exhausted counter borrows the next ms.
 */
export class UuidV7 {
  private lastMs = -1;
  private counter = 0;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly random = new RandomPool(),
  ) {}

  next(): string {
    const now = this.clock.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.counter = this.seed();
    } else if (++this.counter >= COUNTER_LIMIT) {
      this.lastMs++;
      this.counter = this.seed();
    }
    return this.format(this.lastMs, this.counter);
  }

  private seed(): number {
    const at = this.random.take(6);
    return this.random.bytes.readUIntBE(at, 6) % SEED_LIMIT;
  }

  private format(ms: number, counter: number): string {
    const msHi = Math.floor(ms / 0x10000); // top 32 bits of the 48-bit ms
    const msLo = ms & 0xffff;
    const cHi = Math.floor(counter / 0x40000000); // top 12 bits
    const cLo = counter % 0x40000000; // low 30 bits
    const at = this.random.take(4);
    const r = this.random.bytes;
    return (
      HEX[msHi >>> 24] + HEX[(msHi >>> 16) & 0xff] + HEX[(msHi >>> 8) & 0xff] + HEX[msHi & 0xff] + '-' +
      HEX[msLo >>> 8] + HEX[msLo & 0xff] + '-' +
      HEX[0x70 | (cHi >>> 8)] + HEX[cHi & 0xff] + '-' +
      HEX[0x80 | (cLo >>> 24)] + HEX[(cLo >>> 16) & 0xff] + '-' +
      HEX[(cLo >>> 8) & 0xff] + HEX[cLo & 0xff] + HEX[r[at]] + HEX[r[at + 1]] + HEX[r[at + 2]] + HEX[r[at + 3]]
    );
  }
}
