import { randomFillSync } from 'node:crypto';

/**
 * Random bytes drawn from the OS in large blocks: one syscall per POOL_SIZE bytes instead of one
 * per id is most of what makes these uuids faster than crypto.randomUUID().
 */
export class RandomPool {
  private readonly pool: Buffer;
  private offset: number;

  constructor(size = 64 * 1024) {
    this.pool = Buffer.allocUnsafe(size);
    this.offset = size;
  }

  /** offset of `n` fresh bytes inside `bytes`; valid until the next call */
  take(n: number): number {
    if (this.offset + n > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  get bytes(): Buffer {
    return this.pool;
  }
}

/** "00".."ff" */
export const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
