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
  // Text of the ms and of the counter's high 12 bits, rebuilt only when they change.
  private msText = '';
  private counterHigh = -1;
  private counterHighText = '';

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly random = new RandomPool(),
  ) {}

  next(): string {
    const now = this.clock.now();
    if (now > this.lastMs) {
      this.setMs(now);
    } else if (++this.counter >= COUNTER_LIMIT) {
      this.setMs(this.lastMs + 1);
    }
    const counter = this.counter;
    const high = Math.floor(counter / 0x40000000);
    if (high !== this.counterHigh) {
      this.counterHigh = high;
      this.counterHighText = HEX[0x70 | (high >>> 8)] + HEX[high & 0xff] + '-';
    }
    const low = counter % 0x40000000; // low 30 bits
    const at = this.random.take(4);
    const r = this.random.bytes;
    return (
      this.msText + this.counterHighText +
      HEX[0x80 | (low >>> 24)] + HEX[(low >>> 16) & 0xff] + '-' +
      HEX[(low >>> 8) & 0xff] + HEX[low & 0xff] + HEX[r[at]] + HEX[r[at + 1]] + HEX[r[at + 2]] + HEX[r[at + 3]]
    );
  }

  private setMs(ms: number): void {
    this.lastMs = ms;
    const at = this.random.take(6);
    this.counter = this.random.bytes.readUIntBE(at, 6) % SEED_LIMIT;
    const hi = Math.floor(ms / 0x10000); // top 32 bits of the 48-bit ms
    const lo = ms & 0xffff;
    this.msText =
      HEX[hi >>> 24] + HEX[(hi >>> 16) & 0xff] + HEX[(hi >>> 8) & 0xff] + HEX[hi & 0xff] + '-' + HEX[lo >>> 8] + HEX[lo & 0xff] + '-';
  }
}
