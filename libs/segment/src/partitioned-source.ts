import { Clock, errorForLog, IdError, isIdError, publicError, systemClock } from '@app/core';
import { FetchedRange, RangeSource } from './segment-buffer';
import { PartitionStore } from './partition-store';

/** ids of the partitioned sequence stay JSON-safe: go-id-alloc's /alloc answers a JSON number */
export const PARTITION_MAX_ID = BigInt(Number.MAX_SAFE_INTEGER);
const BASE = 1n;
const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

interface PartitionState {
  store: PartitionStore;
  /** the next global segment this partition may hand out; below it means the database rolled back */
  watermark?: bigint;
  lastError: unknown;
  retryAt: number;
  retryDelay: number;
  halted?: { watermark: bigint; fetched: bigint };
}

export interface PartitionLog {
  error(message: string): void;
  warn(message: string): void;
}

/**
 * go-id-alloc's partitioned sequence: partition p's n-th allocation is global segment
 * s = n * P + (p - 1), ids [1 + s * size, 1 + (s + 1) * size): the arithmetic lives here, never in
 * server variables. Draws from the preferred partition while it is healthy, else from any other,
 * with no operator step. Each partition has its own rollback guard: a partition that hands out a
 * segment below one it handed out before is halted until an admin skip.
 */
export class PartitionedSource implements RangeSource {
  private readonly partitions: PartitionState[];
  private highestEnd = 0n;
  private readonly clock: Clock;

  constructor(
    stores: PartitionStore[],
    readonly total: number,
    readonly segmentSize: number,
    private readonly log: PartitionLog,
    clock?: Clock,
  ) {
    if (stores.length === 0) throw new Error('no partition');
    this.clock = clock ?? systemClock;
    // the first store is this process's own partition: preferred
    this.partitions = stores.map((store) => ({ store, lastError: null, retryAt: 0, retryDelay: MIN_RETRY_MS }));
  }

  async fetch(): Promise<FetchedRange> {
    const now = this.clock.now();
    const usable = this.partitions.filter((p) => !p.halted);
    if (usable.length === 0) throw this.allHalted();
    // healthy ones first, in preference order; those backing off after a failure last
    const order = [...usable.filter((p) => p.retryAt <= now), ...usable.filter((p) => p.retryAt > now).sort((a, b) => a.retryAt - b.retryAt)];
    let lastError: unknown;
    for (const partition of order) {
      try {
        const range = await this.fetchFrom(partition);
        if (range !== undefined) return range;
      } catch (e) {
        lastError = e;
        if (isIdError(e) && e.code === 'ID_SPACE_EXHAUSTED') throw e;
      }
    }
    if (this.partitions.every((p) => p.halted)) throw this.allHalted();
    throw lastError ?? new IdError('SEGMENT_UNAVAILABLE', 'no partition could hand out a segment');
  }

  /** a range, or undefined when the partition was just found rolled back */
  private async fetchFrom(partition: PartitionState): Promise<FetchedRange | undefined> {
    const { idx } = partition.store;
    let n: bigint;
    try {
      n = await partition.store.allocate();
    } catch (e) {
      partition.lastError = e;
      partition.retryAt = this.clock.now() + partition.retryDelay;
      partition.retryDelay = Math.min(partition.retryDelay * 2, MAX_RETRY_MS);
      this.log.warn(`partition ${idx}: allocation failed: ${errorForLog(e)}`);
      throw e;
    }
    partition.lastError = null;
    partition.retryAt = 0;
    partition.retryDelay = MIN_RETRY_MS;
    const segment = n * BigInt(this.total) + BigInt(idx - 1);
    if (partition.watermark !== undefined && segment < partition.watermark) {
      partition.halted = { watermark: partition.watermark, fetched: segment };
      this.log.error(
        `ROLLBACK on partition ${idx}: it handed out segment ${segment}, below ${partition.watermark} already used here; ` +
          `its database lost writes. Halted until POST /admin/partitions/${idx}/skip; serving from the other partitions.`,
      );
      return undefined;
    }
    partition.watermark = segment + 1n;
    const size = BigInt(this.segmentSize);
    const start = BASE + segment * size;
    if (start > PARTITION_MAX_ID) {
      throw new IdError('ID_SPACE_EXHAUSTED', `the partitioned sequence has passed ${PARTITION_MAX_ID} (2^53-1), the largest id /alloc can answer`);
    }
    let end = start + size;
    if (end > PARTITION_MAX_ID + 1n) end = PARTITION_MAX_ID + 1n;
    if (end > this.highestEnd) this.highestEnd = end;
    return { start, end, lane: String(idx) };
  }

  private allHalted(): IdError {
    return new IdError('SEGMENT_UNAVAILABLE', 'every partition is halted by the rollback guard; an admin must skip them', {
      retryAfter: 5,
    });
  }

  /**
   * After an admin skip: partition idx's next segment starts above id `above`. Returns the
   * allocation number it will hand out next.
   */
  async skip(idx: number, above: bigint): Promise<{ next: bigint; firstId: bigint }> {
    const partition = this.partitions.find((p) => p.store.idx === idx);
    if (partition === undefined) throw new IdError('NOT_FOUND', `partition ${idx} is not held by this instance`);
    const size = BigInt(this.segmentSize);
    const p = BigInt(this.total);
    // smallest segment s of this partition with 1 + s * size > above
    const minSegment = above < BASE ? 0n : (above - BASE) / size + 1n;
    const offset = BigInt(idx - 1);
    const n = minSegment <= offset ? 0n : (minSegment - offset + p - 1n) / p;
    await partition.store.skipTo(n);
    partition.halted = undefined;
    return { next: n, firstId: BASE + (n * p + offset) * size };
  }

  detail(): Record<string, unknown> {
    const parts: Record<string, unknown> = {};
    for (const p of this.partitions) {
      const down = p.halted !== undefined || p.lastError !== null;
      parts[String(p.store.idx)] = {
        status: down ? 'down' : 'up',
        ...(p.halted
          ? { reason: `rolled back: handed out segment ${p.halted.fetched}, below ${p.halted.watermark}; needs an admin skip` }
          : p.lastError !== null
            ? { reason: publicError(p.lastError).message, code: publicError(p.lastError).code }
            : {}),
      };
    }
    return { total: this.total, segmentSize: this.segmentSize, preferred: this.partitions[0].store.idx, partitions: parts };
  }

  /** every partition halted or failing */
  get allDown(): boolean {
    return this.partitions.every((p) => p.halted !== undefined || p.lastError !== null);
  }

  /** share of the 2^53 space this instance has reached */
  get spaceUsed(): number {
    return Number(this.highestEnd) / Number(PARTITION_MAX_ID + 1n);
  }

  holds(idx: number): boolean {
    return this.partitions.some((p) => p.store.idx === idx);
  }
}
