import { HEX, RandomPool } from './random-pool';

/** RFC 9562 version 4: 122 random bits, version nibble 4, variant 10. */
export class UuidV4 {
  constructor(private readonly random = new RandomPool()) {}

  next(): string {
    const at = this.random.take(16);
    const b = this.random.bytes;
    return (
      HEX[b[at]] + HEX[b[at + 1]] + HEX[b[at + 2]] + HEX[b[at + 3]] + '-' +
      HEX[b[at + 4]] + HEX[b[at + 5]] + '-' +
      HEX[(b[at + 6] & 0x0f) | 0x40] + HEX[b[at + 7]] + '-' +
      HEX[(b[at + 8] & 0x3f) | 0x80] + HEX[b[at + 9]] + '-' +
      HEX[b[at + 10]] + HEX[b[at + 11]] + HEX[b[at + 12]] + HEX[b[at + 13]] + HEX[b[at + 14]] + HEX[b[at + 15]]
    );
  }
}
