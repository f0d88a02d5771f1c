import { Clock, IdError } from '@app/core';
import type { BitPermutation } from '@app/fpe';
import { decimal63 } from './decimal';
import { SnowflakeLayout } from './snowflake-layout';

/** What the worker lease grants the generator; a new object whenever any figure changes. */
export interface IssuePermit {
  readonly workerId: number;
  /** every timestamp issued must be above this: the previous holder's reservation */
  readonly afterMs: number;
  /** and at most this: this holder's reservation, less a safety margin */
  readonly untilMs: number;
  /** changes whenever a worker id is (re)acquired */
  readonly generation: number;
}

export interface PermitSource {
  /** the permit usable at nowMs, or undefined: no lease, a stale one, or the clock not yet past `afterMs` */
  permit(nowMs: number): IssuePermit | undefined;
  /** why there is no permit, for the 503 and readiness */
  reason(nowMs: number): string;
}

export interface SnowflakeGeneratorOptions {
  layout: SnowflakeLayout;
  clock: Clock;
  permits: PermitSource;
  /** a step back of the clock up to this is waited out; beyond it CLOCK_BACKWARDS (SNOWFLAKE_MAX_BACKWARD_MS) */
  maxBackwardMs: number;
  /**
   * how far ahead of the clock an exhausted sequence may borrow timestamps before a request waits
   * for the clock; a batch of this many ms worth of ids never waits once the clock is current
   */
  maxBorrowMs?: number;
  /** longest real time a request waits for the clock before it gives up */
  maxWaitMs?: number;
  /** [0, 1) */
  random?: () => number;
  /** decimal text: exact two-halves routine (default) or BigInt, for the benchmark */
  text?: 'halves' | 'bigint';
  sleep?: (ms: number) => Promise<void>;
  /** real elapsed time, for maxWaitMs */
  monotonic?: () => number;
  /**
   * SNOWFLAKE_PERMUTE: the low (worker, sequence) bits pass through this keyed permutation with
   * the ms as tweak: still unique within the ms (a bijection) and ordered by ms, no longer countable
   */
  permute?: BitPermutation;
}

const PAD9 = ['', '00000000', '0000000', '000000', '00000', '0000', '000', '00', '0', ''];
const BILLION = 1_000_000_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The snowflake sequence of one instance: a plain class, its clock and its lease injected.
 *
 * - never a timestamp below the last one issued, so ids strictly increase in this process;
 * - a sequence exhausted within a ms moves on to the next ms (borrowing at most maxBorrowMs ahead
 *   of the clock, then waiting for it), never wraps;
 * - each ms entered from the clock starts its sequence at a small random offset, so `id % N`
 *   sharding stays even at low rates;
 * - the clock guard: a step back up to maxBackwardMs is waited out (the only case, with borrowing
 *   at its bound, where next() returns a Promise); beyond it CLOCK_BACKWARDS until the clock
 *   passes the last issued timestamp;
 * - only timestamps in the lease's permit: above the previous holder's reservation, within ours;
 * - a batch is all or nothing: every limit is checked for the whole batch before one id is made.
 */
export class SnowflakeGenerator {
  private readonly layout: SnowflakeLayout;
  private readonly clock: Clock;
  private readonly permits: PermitSource;
  private readonly maxBackwardMs: number;
  private readonly maxBorrowMs: number;
  private readonly maxWaitMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly monotonic: () => number;
  private readonly useBigInt: boolean;
  private readonly seqRange: number;
  private readonly maxSeq: number;
  private readonly offsetRange: number;
  private readonly permute?: BitPermutation;

  /** timestamp of the last id issued (Unix ms), -1 before the first */
  private lastMs = -1;
  /** sequence of the last id issued in lastMs */
  private lastSeq = 0;
  /** highest clock reading seen: a reading below it is a step back */
  private maxNow = -1;
  /** a step back beyond the tolerance was seen: refuse until the clock passes lastMs */
  private backwards = false;
  private generation = -1;
  private workerId = -1;

  // Text of the current ms: value(seq) = prefix * 10^9 + (rest9 + seq) while rest9 + seq < 10^9.
  private textMs = -1;
  private textWorker = -1;
  private prefix = '';
  private rest9 = 0;
  private hi = 0;
  private lo = 0;
  private baseBig = 0n;

  constructor(options: SnowflakeGeneratorOptions) {
    this.layout = options.layout;
    this.clock = options.clock;
    this.permits = options.permits;
    this.maxBackwardMs = options.maxBackwardMs;
    this.seqRange = this.layout.maxSequence + 1;
    this.maxSeq = this.layout.maxSequence;
    this.maxBorrowMs = Math.max(1, options.maxBorrowMs ?? 16);
    this.maxWaitMs = options.maxWaitMs ?? 1000;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? defaultSleep;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.useBigInt = options.text === 'bigint';
    this.permute = options.permute;
    if (this.permute && this.permute.bits !== this.layout.workerBits + this.layout.sequenceBits) {
      throw new Error(`the permutation must cover the ${this.layout.workerBits + this.layout.sequenceBits} low bits`);
    }
    // up to 1/8 of the sequence, at most 128 values: keeps low bits even, wastes little capacity
    this.offsetRange = Math.min(128, Math.floor(this.seqRange / 8));
  }

  /** count ids; synchronous unless it must wait for the clock (a short step back, or borrowing at its bound) */
  next(count: number): string[] | Promise<string[]> {
    return this.attempt(count, -1);
  }

  /** the last issued timestamp, -1 before the first */
  get lastTimestamp(): number {
    return this.lastMs;
  }

  /** ms the clock is behind what this generator has seen or issued, when that blocks issuing */
  clockBehindMs(nowMs: number): number {
    if (this.backwards && nowMs <= this.lastMs) return this.lastMs - nowMs + 1;
    const back = this.maxNow - nowMs;
    return back > this.maxBackwardMs ? back : 0;
  }

  private attempt(count: number, deadline: number): string[] | Promise<string[]> {
    const now = this.clock.now();
    const wait = this.guardClock(now);
    if (wait > 0) return this.later(count, wait, deadline, 'clock');

    const permit = this.permits.permit(now);
    if (permit === undefined) {
      throw new IdError('WORKER_LEASE_LOST', `snowflake cannot issue: ${this.permits.reason(now)}`);
    }
    if (permit.generation !== this.generation) this.adopt(permit);

    // Where this batch starts.
    let ms: number;
    let seq: number;
    if (now > this.lastMs) {
      ms = now;
      seq = this.offsetRange > 1 ? Math.floor(this.random() * this.offsetRange) : 0;
    } else {
      ms = this.lastMs;
      seq = this.lastSeq + 1;
      if (seq > this.maxSeq) {
        ms += 1;
        seq = 0;
      }
    }
    // Where it ends, checked whole before any id is made.
    const firstRoom = this.seqRange - seq;
    const endMs = count <= firstRoom ? ms : ms + Math.ceil((count - firstRoom) / this.seqRange);
    if (endMs > permit.untilMs) {
      throw new IdError(
        'WORKER_LEASE_LOST',
        `snowflake cannot issue: worker id ${permit.workerId} is reserved only up to ${new Date(permit.untilMs).toISOString()} and the lease is not being renewed in time`,
      );
    }
    if (endMs > this.layout.lastValidMs) {
      throw new IdError(
        'ID_SPACE_EXHAUSTED',
        `snowflake layout ${this.layout.describe()} ends ${new Date(this.layout.lastValidMs).toISOString()}`,
      );
    }
    if (endMs > now + this.maxBorrowMs && ms > now) {
      // Borrowed as far ahead as allowed: let the clock catch up.
      return this.later(count, Math.min(ms - now, endMs - now - this.maxBorrowMs), deadline, 'borrow');
    }
    return this.emit(count, ms, seq);
  }

  /** 0 to go on; ms to wait for a short step back; throws for a long one */
  private guardClock(now: number): number {
    if (now >= this.maxNow) {
      this.maxNow = now;
      if (this.backwards) {
        if (now > this.lastMs) {
          this.backwards = false;
        } else {
          throw this.backwardsError(now);
        }
      }
      return 0;
    }
    const back = this.maxNow - now;
    if (!this.backwards && back <= this.maxBackwardMs) return back;
    this.backwards = true;
    throw this.backwardsError(now);
  }

  private backwardsError(now: number): IdError {
    const behind = Math.max(this.lastMs, this.maxNow) - now;
    return new IdError(
      'CLOCK_BACKWARDS',
      `the clock is ${behind} ms behind the last snowflake timestamp (more than SNOWFLAKE_MAX_BACKWARD_MS=${this.maxBackwardMs}); ` +
        `issuing resumes once it passes ${new Date(Math.max(this.lastMs, this.maxNow)).toISOString()}`,
      { retryAfter: Math.max(1, Math.ceil(behind / 1000)) },
    );
  }

  private later(count: number, waitMs: number, deadline: number, why: 'clock' | 'borrow'): Promise<string[]> {
    const now = this.monotonic();
    const until = deadline < 0 ? now + this.maxWaitMs : deadline;
    if (now >= until) {
      if (why === 'clock') {
        this.backwards = true;
        return Promise.reject(this.backwardsError(this.clock.now()));
      }
      return Promise.reject(new IdError('CLOCK_BACKWARDS', 'snowflake: the clock did not advance while waiting for the next millisecond'));
    }
    return this.sleep(Math.max(1, Math.min(waitMs, Math.ceil(until - now)))).then(() => this.attempt(count, until));
  }

  private adopt(permit: IssuePermit): void {
    // A worker id (re)acquired: start above both our own last timestamp (ids strictly increase
    // in this process) and the reservation of whoever held it before, ourselves included.
    if (!Number.isInteger(permit.workerId) || permit.workerId < 0 || permit.workerId > this.layout.maxWorkerId) {
      throw new IdError('INTERNAL', `worker id ${permit.workerId} does not fit the snowflake layout ${this.layout.describe()}`);
    }
    this.generation = permit.generation;
    this.workerId = permit.workerId;
    this.lastMs = Math.max(this.lastMs, permit.afterMs);
    this.lastSeq = this.maxSeq;
  }

  private emitPermuted(count: number, startMs: number, startSeq: number): string[] {
    const permute = this.permute!;
    const ids = new Array<string>(count);
    const base = this.workerId * this.seqRange;
    let ms = startMs;
    let seq = startSeq;
    let i = 0;
    for (;;) {
      const end = Math.min(this.maxSeq, seq + (count - i) - 1);
      const lows = new Array<number>(end - seq + 1);
      for (let j = 0; j < lows.length; j++) lows[j] = base + seq + j;
      const hidden = lows.length === 1 ? [permute.encrypt(lows[0], ms)] : permute.encryptMany(lows, ms);
      for (const low of hidden) {
        ids[i++] = this.layout.compose(ms, Math.floor(low / this.seqRange), low % this.seqRange).toString();
      }
      if (i === count) {
        this.lastMs = ms;
        this.lastSeq = end;
        return ids;
      }
      ms += 1;
      seq = 0;
    }
  }

  private emit(count: number, startMs: number, startSeq: number): string[] {
    if (this.permute !== undefined) return this.emitPermuted(count, startMs, startSeq);
    const ids = new Array<string>(count);
    let ms = startMs;
    let seq = startSeq;
    let i = 0;
    for (;;) {
      if (ms !== this.textMs || this.workerId !== this.textWorker) this.setTextMs(ms);
      const end = Math.min(this.maxSeq, seq + (count - i) - 1);
      if (this.useBigInt) {
        for (; seq <= end; seq++) ids[i++] = (this.baseBig + BigInt(seq)).toString();
      } else {
        const rest9 = this.rest9;
        const prefix = this.prefix;
        for (; seq <= end; seq++) {
          const r = rest9 + seq;
          if (r < BILLION && prefix !== '') {
            const s = String(r);
            ids[i++] = prefix + PAD9[s.length] + s;
          } else {
            ids[i++] = decimal63(this.hi, this.lo + seq);
          }
        }
      }
      if (i === count) {
        this.lastMs = ms;
        this.lastSeq = end;
        return ids;
      }
      ms += 1;
      seq = 0;
    }
  }

  private setTextMs(ms: number): void {
    this.textMs = ms;
    this.textWorker = this.workerId;
    const { hi, lo } = this.layout.halves(ms, this.workerId, 0);
    this.hi = hi;
    this.lo = lo;
    if (this.useBigInt) {
      this.baseBig = this.layout.compose(ms, this.workerId, 0);
      return;
    }
    // hi * 2^32 + lo = high * 10^6 + rest (see decimal.ts), then regrouped as prefix * 10^9 + rest9
    const low = hi * 967296 + lo;
    const carry = Math.floor(low / 1_000_000);
    const high = hi * 4294 + carry;
    const rest = low - carry * 1_000_000;
    const prefix = Math.floor(high / 1000);
    this.rest9 = (high - prefix * 1000) * 1_000_000 + rest;
    this.prefix = prefix > 0 ? String(prefix) : '';
  }
}
