import { randomBytes } from 'node:crypto';
import type { ChangeMark } from './segment-store';

/** a write's contribution to the change row's token: random, below 2^62 so XORs stay a signed BIGINT */
export function changeToken(): bigint {
  return randomBytes(8).readBigUInt64BE() >> 2n;
}

/** this process's own fetches, as the stores count them */
export class OwnFetches {
  private seq = 0n;
  private token = 0n;

  /** a fetch whose answer arrived: its bump is certainly in the change row (unless lost since) */
  add(token: bigint): void {
    this.seq++;
    this.token ^= token;
  }

  get mark(): ChangeMark {
    return { seq: this.seq, token: this.token };
  }
}

/**
 * Whether the keys must be read again: the change row read now against the one read when every
 * key was last judged. Nothing to read when the row moved by exactly this process's own fetches
 * counted before the read was sent (what those fetches wrote this process knows already). Any
 * other difference (another instance's write, an admin change, a write that answered in doubt,
 * or a row taken back by a database that lost writes) reads every key; so does the first poll.
 * A read that turns out equal without being so needs a lost write and a new one with the same
 * random token: odds of 2^-62.
 */
export class ChangeWatch {
  private base: { read: ChangeMark; own: ChangeMark } | null = null;

  unchanged(read: ChangeMark, ownAtSend: ChangeMark): boolean {
    const b = this.base;
    if (b === null) return false;
    return read.seq === b.read.seq + (ownAtSend.seq - b.own.seq) && read.token === (b.read.token ^ ownAtSend.token ^ b.own.token);
  }

  /** after every key was read (or found unchanged) against this read */
  accept(read: ChangeMark, ownAtSend: ChangeMark): void {
    this.base = { read, own: ownAtSend };
  }
}
