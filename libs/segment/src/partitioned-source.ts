import { Clock, errorForLog, IdError, isIdError, publicError, systemClock } from '@app/core';
import { FetchedRange, RangeSource, Rollback, SegmentBuffer, SegmentBufferOptions } from './segment-buffer';
import { AllocationUnverified, PartitionPollAnswer, PartitionStore } from './partition-store';
import type { SegmentStore } from './segment-store';
import { allocationAbove, describeLayout, PartitionLayout, rangeOf } from './partition-layout';

/** ids of the partitioned sequence stay JSON-safe: go-id-alloc's /alloc answers a JSON number */
export const PARTITION_MAX_ID = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

interface PartitionState {
  store: PartitionStore;
  /** its ranges' lane in the buffer, where its rollback guard is kept */
  lane: string;
  /** the checked layout record; undefined: not checked yet (never drawn from) */
  layout?: PartitionLayout;
  /** why the partition cannot be used yet (layout unchecked or refused) */
  unchecked: string;
  /** set once another layout version is recorded: this instance no longer draws from it */
  superseded?: string;
  /** the skip counter last polled (or read by the layout check) */
  skips?: bigint;
  /** when the last poll that answered was sent (its reading is at least that fresh) */
  lastPollSentAt?: number;
  /** the highest allocation number a layout check read before the partition could be checked */
  lastSeen?: bigint;
  /** bumped by every skip and layout change: a fetch in flight across one is discarded */
  epoch: number;
  lastError: unknown;
  retryAt: number;
  retryDelay: number;
}

export interface PartitionLog {
  error(message: string): void;
  warn(message: string): void;
}

/**
 * Where halted instances publish the smallest skip target they accept, so that a skip made
 * through any instance is refused below what any live instance issued or saw drawn (the same
 * table as segment keys: id_segment_halt, under a name no segment key can take).
 */
export interface PartitionTargets {
  publish(instanceId: string, targets: { idx: number; above: bigint }[]): Promise<void>;
  /** the largest published per partition within the freshness window */
  required(idxs: number[]): Promise<Map<number, bigint>>;
}

/** The name a partition's targets are published under: a space is never in a segment key. */
export function partitionTargetName(idx: number): string {
  return `partition ${idx}`;
}

/** PartitionTargets over the segment store's published-target statements */
export function publishedPartitionTargets(
  store: Pick<SegmentStore, 'publishTargets' | 'requiredTargets'>,
  freshMs: number,
): PartitionTargets {
  return {
    publish: (instanceId, targets) =>
      store.publishTargets(instanceId, targets.map((t) => ({ key: partitionTargetName(t.idx), target: t.above }))),
    required: async (idxs) => {
      const found = await store.requiredTargets(idxs.map(partitionTargetName), freshMs);
      return new Map(idxs.filter((i) => found.has(partitionTargetName(i))).map((i) => [i, found.get(partitionTargetName(i))!]));
    },
  };
}

/**
 * The options of the source's buffer that the source does not set itself: its ranges are the
 * recorded layout's segments (step and stepMax shown, not used), and it hears of halts itself.
 */
export type PartitionBufferOptions = Partial<Omit<SegmentBufferOptions, 'onRollback'>>;

/** What a poll answer changed for one partition. */
export interface PollEffect {
  skipped: boolean;
  superseded: boolean;
}

/**
 * go-id-alloc's partitioned sequence, mapped through each partition's recorded layout (see
 * partition-layout.ts): the arithmetic lives here, never in server variables. Draws from the
 * preferred partition while it is healthy, else from any other, with no operator step.
 *
 * The rollback guard is the buffer's, the same rule as a segment key's: each partition is a lane
 * of `buffer` (its ranges carry `lane: String(idx)`). This source only maps what the partitions
 * answer onto it: allocations become ranges the buffer judges, poll and layout-check readings
 * become observations, a changed skip counter (or a skip made here) a skip of the lane. The
 * buffer halts a lane whose database handed out a segment below what was fetched or seen drawn;
 * the source stops drawing from it until an admin skip, publishes its smallest target, and
 * serves from the other partitions.
 */
export class PartitionedSource implements RangeSource {
  private readonly partitions: PartitionState[];
  private highestEnd = 0n;
  private readonly clock: Clock;
  /** the ids of every partition, and their rollback guard (one lane a partition) */
  readonly buffer: SegmentBuffer;

  constructor(
    stores: PartitionStore[],
    readonly total: number,
    private readonly log: PartitionLog,
    clock?: Clock,
    bufferOptions: PartitionBufferOptions = {},
    private readonly targets?: PartitionTargets,
    readonly instanceId = 'this instance',
    /** poll period + a poll statement's whole budget: a skip is seen within it, or the status says unknown */
    readonly skipAppliedWithinMs = Number.POSITIVE_INFINITY,
  ) {
    if (stores.length === 0) throw new Error('no partition');
    this.clock = clock ?? systemClock;
    // the first store is this process's own partition: preferred
    this.partitions = stores.map((store) => ({
      store,
      lane: String(store.idx),
      unchecked: 'layout not checked yet',
      epoch: 0,
      lastError: null,
      retryAt: 0,
      retryDelay: MIN_RETRY_MS,
    }));
    this.buffer = new SegmentBuffer('partition', this, {
      preload: 0.1,
      waitMs: 2000,
      step: 1,
      stepMax: 1,
      dynamicStep: false,
      clock: this.clock,
      ...bufferOptions,
      onRollback: (rollback) => this.halted(rollback),
    });
  }

  /** a partition's record was checked: it may be drawn from */
  layoutChecked(idx: number, layout: PartitionLayout, skips?: bigint): void {
    const partition = this.partition(idx);
    partition.layout = layout;
    partition.skips = skips;
    // the check read the database: it counts as the first poll
    partition.lastPollSentAt = this.clock.now();
    // Every id below the layout's base may have been drawn (under an older layout): a floor for
    // the guard like another instance's draw, kept across skips, so an allocation below the
    // layout's first (a database gone back past its fence) is refused.
    this.buffer.observe(partition.lane, layout.base);
    // what the checks read counts like a poll: an instance that just started must not take an
    // allocation the table already passed (a database that lost it since) for a fresh one
    if (partition.lastSeen !== undefined) this.sawLast(partition, layout, partition.lastSeen);
    partition.unchecked = '';
    partition.epoch++;
  }

  /**
   * A check read the partition's last allocation, whatever its verdict: a check that waits (another
   * partition unreachable) still saw the table reach it, and a database that loses those
   * allocations before the partition is checked must not hand them out to this instance again.
   */
  allocationSeen(idx: number, last: bigint): void {
    const partition = this.partition(idx);
    if (partition.lastSeen === undefined || last > partition.lastSeen) partition.lastSeen = last;
    // already checked (the check reruns while another partition is unchecked): a reading like a poll's
    if (partition.layout !== undefined) this.sawLast(partition, partition.layout, last);
  }

  /** why a partition cannot be drawn from before its record is checked (unreachable, refused) */
  layoutUnchecked(idx: number, reason: string): void {
    const partition = this.partition(idx);
    if (partition.layout === undefined) partition.unchecked = reason;
  }

  layoutOf(idx: number): PartitionLayout | undefined {
    return this.partitions.find((p) => p.store.idx === idx)?.layout;
  }

  private partition(idx: number): PartitionState {
    const partition = this.partitions.find((p) => p.store.idx === idx);
    if (partition === undefined) throw new IdError('NOT_FOUND', `partition ${idx} is not held by this instance`);
    return partition;
  }

  private usable(p: PartitionState): boolean {
    return p.layout !== undefined && p.superseded === undefined && this.buffer.laneHalt(p.lane) === undefined;
  }

  async fetch(): Promise<FetchedRange> {
    const now = this.clock.now();
    const usable = this.partitions.filter((p) => this.usable(p));
    if (usable.length === 0) throw this.noneUsable();
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
    if (!this.partitions.some((p) => this.usable(p))) throw this.noneUsable();
    throw lastError ?? new IdError('SEGMENT_UNAVAILABLE', 'no partition could hand out a segment');
  }

  /**
   * A range for the buffer to judge against the partition's guard, or undefined when the
   * partition was skipped or re-based meanwhile.
   */
  private async fetchFrom(partition: PartitionState): Promise<FetchedRange | undefined> {
    const { idx } = partition.store;
    const layout = partition.layout!;
    // what polls read of this partition until now counts against the answer (later readings may
    // be this allocation itself)
    this.buffer.sending(partition.lane);
    const epoch = partition.epoch;
    let allocation: { n: bigint; version: number };
    try {
      allocation = await partition.store.allocate();
    } catch (e) {
      if (e instanceof AllocationUnverified) {
        // never issued from, but the partition reached it: a later answer below it is a rollback
        const reached = rangeOf(layout, e.allocation);
        if (reached !== undefined) this.buffer.reachedUnissued(partition.lane, clamped(reached.end));
      }
      partition.lastError = e;
      partition.retryAt = this.clock.now() + partition.retryDelay;
      partition.retryDelay = Math.min(partition.retryDelay * 2, MAX_RETRY_MS);
      this.log.warn(`partition ${idx}: allocation failed: ${errorForLog(e)}`);
      throw e;
    }
    partition.lastError = null;
    partition.retryAt = 0;
    partition.retryDelay = MIN_RETRY_MS;
    if (partition.epoch !== epoch || partition.superseded !== undefined) return undefined; // skipped or re-based while in flight
    if (allocation.version !== layout.version) {
      this.supersede(partition, allocation.version);
      return undefined;
    }
    // An allocation below the layout's first (the database went back past the fence) has no
    // range in it: an empty one just below the layout's base, under the floor the check observed
    // there (kept across skips), which the guard refuses.
    const range = rangeOf(layout, allocation.n) ?? { start: layout.base - 1n, end: layout.base - 1n };
    if (range.start > PARTITION_MAX_ID) {
      throw new IdError('ID_SPACE_EXHAUSTED', `the partitioned sequence has passed ${PARTITION_MAX_ID} (2^53-1), the largest id /alloc can answer`);
    }
    const end = clamped(range.end);
    if (end > this.highestEnd) this.highestEnd = end;
    return { start: range.start, end, lane: partition.lane };
  }

  /** the buffer halted a partition's lane: it drops the partition's ranges, and this stops drawing from it */
  private halted(rollback: Rollback): void {
    this.log.error(
      `ROLLBACK on partition ${rollback.lane}: its database went back to id ${rollback.fetchedStart}, below ${rollback.watermark} already fetched ` +
        `or seen here; it lost writes. Halted until POST /admin/partitions/${rollback.lane}/skip; serving from the other partitions.`,
    );
  }

  private supersede(partition: PartitionState, version: number): void {
    if (partition.superseded !== undefined) return;
    const { idx } = partition.store;
    partition.epoch++;
    partition.superseded =
      `layout version ${version} is recorded (re-based); this instance runs version ${partition.layout?.version}: ` +
      'restart it with the new layout';
    this.log.error(`partition ${idx}: ${partition.superseded}. No longer drawing from it (ids already buffered stay valid: the re-base moved above them).`);
  }

  /** a poll of idx sent at sentAt (this clock) answered */
  pollAnswered(idx: number, sentAt: number): void {
    const partition = this.partition(idx);
    if (partition.lastPollSentAt === undefined || sentAt > partition.lastPollSentAt) partition.lastPollSentAt = sentAt;
  }

  /** when the last answered poll of idx was sent (this clock); undefined before the check */
  lastPollSentAt(idx: number): number | undefined {
    return this.partition(idx).lastPollSentAt;
  }

  /** the clock polls are stamped with */
  now(): number {
    return this.clock.now();
  }

  /**
   * Partitions whose last answered poll was sent longer than skipAppliedWithinMs ago: a skip made
   * meanwhile may not be honoured here.
   */
  skipStatusUnknown(): number[] {
    const now = this.clock.now();
    return this.partitions
      .filter((p) => p.layout !== undefined && p.lastPollSentAt !== undefined && now - p.lastPollSentAt > this.skipAppliedWithinMs)
      .map((p) => p.store.idx);
  }

  /** the highest end fetched from partition idx (read when a poll is sent, passed back to observe) */
  fetchedEnd(idx: number): bigint | undefined {
    return this.buffer.fetchedEnd(this.partition(idx).lane);
  }

  /**
   * A poll answer for partition idx: another layout version stops drawing from it; the counter
   * is an observation of its lane (for fetches sent from now on); a changed skip counter is a
   * skip of the lane (it resumes). `fetchedEndAtSend`: fetchedEnd(idx) when the poll was sent.
   */
  observe(idx: number, answer: PartitionPollAnswer, fetchedEndAtSend?: bigint): PollEffect {
    const partition = this.partition(idx);
    const layout = partition.layout;
    const effect: PollEffect = { skipped: false, superseded: false };
    if (layout === undefined) return effect;
    if (answer.version !== layout.version) {
      const was = partition.superseded;
      this.supersede(partition, answer.version);
      effect.superseded = was === undefined;
      return effect;
    }
    if (partition.skips !== undefined && answer.skips !== partition.skips) {
      effect.skipped = true;
      this.skipped(partition);
    }
    partition.skips = answer.skips;
    // A reading below what this instance had fetched when the poll was sent does not halt here:
    // concurrent REPLACEs can leave MAX(id) below an allocation already handed out (their
    // auto-increment values are taken before their row locks). The allocation itself, exact, is
    // what the guard checks. But it may be a database that lost writes, whose next allocations
    // only other instances will take: the partition's smallest target is published, as a halted
    // one's is, so that a skip through them is not let below what this instance issued.
    this.sawLast(partition, layout, answer.last, effect.skipped ? undefined : fetchedEndAtSend);
    return effect;
  }

  /** the table read at allocation `last`: an observation of the lane, for fetches sent from now on */
  private sawLast(partition: PartitionState, layout: PartitionLayout, last: bigint, fetchedEndAtSend?: bigint): void {
    const range = rangeOf(layout, last);
    // read below the layout's first allocation: nothing drawn under it yet, or a database gone back past its fence
    const end = range === undefined ? layout.base : clamped(range.end);
    this.buffer.observe(partition.lane, end, fetchedEndAtSend, true);
  }

  /** a skip of this partition, made here or observed on a poll: the buffer's skip of its lane */
  private skipped(partition: PartitionState): void {
    partition.epoch++;
    this.buffer.skipObserved(partition.lane);
  }

  /**
   * The smallest `{"to": N}` this instance accepts for a partition: the highest id it issued
   * or saw another instance draw (the buffer's rule: its own fetched-but-never-issued ranges
   * left out, so a halted partition can always be resumed). `{"to": N}` lets out ids above N.
   */
  smallestTarget(idx: number): bigint {
    const reached = this.buffer.reachedByAll(this.partition(idx).lane);
    return reached > 0n ? reached - 1n : 0n;
  }

  private isHalted(p: PartitionState): boolean {
    return this.buffer.laneHalt(p.lane) !== undefined;
  }

  /**
   * Halted partitions, and those a poll read below what this instance fetched, with their
   * smallest targets: published on every poll period, and after a poll answer of partition
   * `answered` that leaves it so.
   */
  async publishTargets(answered?: number): Promise<void> {
    const due = this.partitions.filter((p) => this.isHalted(p) || this.buffer.readBelow(p.lane));
    if (due.length === 0 || this.targets === undefined) return;
    if (answered !== undefined && !due.some((p) => p.store.idx === answered)) return;
    await this.targets.publish(
      this.instanceId,
      due.map((p) => ({ idx: p.store.idx, above: this.smallestTarget(p.store.idx) })),
    );
  }

  /** the smallest target a skip of idx may take: this instance's own and every live halted one's */
  async requiredTarget(idx: number): Promise<bigint> {
    const own = this.smallestTarget(idx);
    const published = (await this.targets?.required([idx]))?.get(idx);
    return published !== undefined && published > own ? published : own;
  }

  private noneUsable(): IdError {
    const halted = this.partitions.some((p) => this.isHalted(p));
    return new IdError(
      'SEGMENT_UNAVAILABLE',
      halted
        ? 'every partition is halted by the rollback guard or unusable; an admin must skip the halted ones'
        : `no partition can be drawn from: ${this.partitions.map((p) => `partition ${p.store.idx}: ${this.reasonOf(p) ?? 'usable'}`).join('; ')}`,
      { retryAfter: 5 },
    );
  }

  /**
   * The admin skip: partition idx's next segment starts above id `above`, recorded in its
   * database (every instance observes the skip counter on its poll). Returns the allocation
   * number it will hand out next.
   */
  async skip(idx: number, above: bigint): Promise<{ next: bigint; firstId: bigint }> {
    const partition = this.partition(idx);
    const layout = partition.layout;
    if (layout === undefined) throw new IdError('DATABASE_UNAVAILABLE', `partition ${idx}: ${partition.unchecked}`);
    if (partition.superseded !== undefined) throw new IdError('SEGMENT_UNAVAILABLE', `partition ${idx}: ${partition.superseded}`);
    const required = await this.requiredTarget(idx);
    if (above < required) {
      throw new IdError(
        'SKIP_BACKWARDS',
        `partition ${idx}: ids up to ${required} may have been issued (by this instance, or seen drawn, or required by a halted ` +
          `instance); a skip to ${above} would let them out again: use {"to": ${required}} or more`,
      );
    }
    const n = allocationAbove(layout, above);
    await partition.store.skipTo(n);
    this.skipped(partition);
    return { next: n, firstId: rangeOf(layout, n)!.start };
  }

  private reasonOf(p: PartitionState): string | null {
    if (p.layout === undefined) return p.unchecked;
    if (p.superseded !== undefined) return p.superseded;
    const halt = this.buffer.laneHalt(p.lane);
    if (halt) return `rolled back: its database went back to id ${halt.fetchedStart}, below ${halt.watermark} already fetched or seen here; needs an admin skip (POST /admin/partitions/${p.store.idx}/skip)`;
    // readiness and 503 bodies are unauthenticated: the stable code and a generic message, the
    // driver's text (addresses) only in the log
    if (p.lastError !== null) return publicError(p.lastError).message;
    return null;
  }

  detail(): Record<string, unknown> {
    const parts: Record<string, unknown> = {};
    const unknown = new Set(this.skipStatusUnknown());
    const now = this.clock.now();
    for (const p of this.partitions) {
      const reason = this.reasonOf(p);
      const halted = this.isHalted(p);
      const skips = unknown.has(p.store.idx)
        ? {
            skips: {
              status: 'down',
              message: `skip status unknown: the poll has not reached partition ${p.store.idx}'s database for ${now - p.lastPollSentAt!} ms; skips made meanwhile may not be honoured here`,
            },
          }
        : {};
      parts[String(p.store.idx)] = {
        status: reason === null ? 'up' : 'down',
        ...(p.layout ? { layoutVersion: p.layout.version } : {}),
        ...(halted ? { smallestSkipTarget: this.smallestTarget(p.store.idx).toString() } : {}),
        ...(reason === null ? {} : { reason }),
        ...(reason !== null && p.lastError !== null && !halted ? { code: publicError(p.lastError).code } : {}),
        ...skips,
      };
    }
    const layout = this.partitions.find((p) => p.layout)?.layout;
    return {
      total: this.total,
      // the recorded size (PARTITION_SEGMENT_SIZE may be unset): known once a record is checked
      ...(layout ? { segmentSize: layout.segmentSize, layout: describeLayout({ ...layout, idx: undefined }) } : {}),
      preferred: this.partitions[0].store.idx,
      partitions: parts,
    };
  }

  /** every partition unusable or failing */
  get allDown(): boolean {
    return this.partitions.every((p) => this.reasonOf(p) !== null);
  }

  /** share of the 2^53 space this instance has reached */
  get spaceUsed(): number {
    return Number(this.highestEnd) / Number(PARTITION_MAX_ID + 1n);
  }

  holds(idx: number): boolean {
    return this.partitions.some((p) => p.store.idx === idx);
  }

  get stores(): PartitionStore[] {
    return this.partitions.map((p) => p.store);
  }
}

/** a range end cut at the /alloc ceiling, as the ranges handed out are */
function clamped(end: bigint): bigint {
  return end > PARTITION_MAX_ID + 1n ? PARTITION_MAX_ID + 1n : end;
}
