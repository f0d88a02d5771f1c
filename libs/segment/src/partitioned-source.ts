import { Clock, errorForLog, IdError, isIdError, publicError, systemClock } from '@app/core';
import { FetchedRange, RangeSource } from './segment-buffer';
import { AllocationUnverified, PartitionPollAnswer, PartitionStore } from './partition-store';
import type { SegmentStore } from './segment-store';
import { allocationAbove, describeLayout, PartitionLayout, rangeOf } from './partition-layout';

/** ids of the partitioned sequence stay JSON-safe: go-id-alloc's /alloc answers a JSON number */
export const PARTITION_MAX_ID = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;
/** own allocation ends remembered per partition */
const OWN_ENDS_KEPT = 32;

interface PartitionState {
  store: PartitionStore;
  /** the checked layout record; undefined: not checked yet (never drawn from) */
  layout?: PartitionLayout;
  /** why the partition cannot be used yet (layout unchecked or refused) */
  unchecked: string;
  /** set once another layout version is recorded: this instance no longer draws from it */
  superseded?: string;
  /** highest end fetched here */
  fetchedEnd?: bigint;
  /** highest end a poll observed in the database (counts against fetches sent after it arrived) */
  observedEnd?: bigint;
  /** the same, leaving out readings equal to one of this instance's own allocations: what others drew */
  observedOthers?: bigint;
  /** ends of this instance's last allocations, to tell its own draws from others' in a poll */
  ownEnds: bigint[];
  /** the skip counter last polled */
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
  halted?: { watermark: bigint; fetched: bigint };
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

export interface PartitionEvents {
  /**
   * The partition's held ranges, and a fetch in flight, may overlap ids others issue now (a
   * rollback) or lie below a skip target: drop them. Returns one past the highest id issued in
   * the lane (0: none).
   */
  dropLane?(lane: string): bigint;
  /** one past the highest id issued in the lane (0: none), without dropping anything */
  issuedEnd?(lane: string): bigint;
}

/** What a poll answer changed for one partition. */
export interface PollEffect {
  skipped: boolean;
  superseded: boolean;
}

/**
 * go-id-alloc's partitioned sequence, mapped through each partition's recorded layout (see
 * partition-layout.ts): the arithmetic lives here, never in server variables. Draws from the
 * preferred partition while it is healthy, else from any other, with no operator step. Each
 * partition has its own rollback guard: the highest end it fetched or a poll observed in its
 * database; a partition that hands out a segment below it is halted until an admin skip.
 */
export class PartitionedSource implements RangeSource {
  private readonly partitions: PartitionState[];
  private highestEnd = 0n;
  private readonly clock: Clock;

  constructor(
    stores: PartitionStore[],
    readonly total: number,
    private readonly log: PartitionLog,
    clock?: Clock,
    private readonly events: PartitionEvents = {},
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
      unchecked: 'layout not checked yet',
      epoch: 0,
      ownEnds: [],
      lastError: null,
      retryAt: 0,
      retryDelay: MIN_RETRY_MS,
    }));
  }

  /** a partition's record was checked: it may be drawn from */
  layoutChecked(idx: number, layout: PartitionLayout, skips?: bigint): void {
    const partition = this.partition(idx);
    partition.layout = layout;
    partition.skips = skips;
    // the check read the database: it counts as the first poll
    partition.lastPollSentAt = this.clock.now();
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
    return p.layout !== undefined && p.superseded === undefined && p.halted === undefined;
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

  /** a range, or undefined when the partition was just found rolled back or re-based */
  private async fetchFrom(partition: PartitionState): Promise<FetchedRange | undefined> {
    const { idx } = partition.store;
    const layout = partition.layout!;
    // An observation counts only against fetches sent after it arrived: this one's own
    // allocation may be what the next poll sees.
    const guard = max(partition.fetchedEnd, partition.observedEnd);
    const epoch = partition.epoch;
    let allocation: { n: bigint; version: number };
    try {
      allocation = await partition.store.allocate();
    } catch (e) {
      if (e instanceof AllocationUnverified) {
        // never issued from, but the partition reached it: a later answer below it is a rollback
        const reached = rangeOf(layout, e.allocation);
        if (reached !== undefined) partition.fetchedEnd = max(partition.fetchedEnd, reached.end);
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
    const range = rangeOf(layout, allocation.n);
    if (range === undefined || (guard !== undefined && range.start < guard)) {
      this.halt(partition, guard ?? range?.start ?? 0n, range?.start ?? layout.base);
      return undefined;
    }
    partition.fetchedEnd = max(partition.fetchedEnd, range.end);
    partition.ownEnds.push(range.end);
    if (partition.ownEnds.length > OWN_ENDS_KEPT) partition.ownEnds.shift();
    if (range.start > PARTITION_MAX_ID) {
      throw new IdError('ID_SPACE_EXHAUSTED', `the partitioned sequence has passed ${PARTITION_MAX_ID} (2^53-1), the largest id /alloc can answer`);
    }
    const end = range.end > PARTITION_MAX_ID + 1n ? PARTITION_MAX_ID + 1n : range.end;
    if (end > this.highestEnd) this.highestEnd = end;
    return { start: range.start, end, lane: String(idx) };
  }

  private halt(partition: PartitionState, watermark: bigint, fetched: bigint): void {
    const { idx } = partition.store;
    partition.halted = { watermark, fetched };
    this.events.dropLane?.(String(idx));
    this.log.error(
      `ROLLBACK on partition ${idx}: its database went back to id ${fetched}, below ${watermark} already fetched ` +
        `or seen here; it lost writes. Halted until POST /admin/partitions/${idx}/skip; serving from the other partitions.`,
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

  /**
   * A poll answer for partition idx: another layout version stops drawing from it; the counter
   * feeds the guard (for fetches sent from now on); a changed skip counter resumes it.
   */
  observe(idx: number, answer: PartitionPollAnswer): PollEffect {
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
    // A reading below what this instance fetched is not taken as a rollback: concurrent
    // REPLACEs can leave MAX(id) below an allocation already handed out (their auto-increment
    // values are taken before their row locks). Readings only raise the guard; the allocation
    // itself, exact, is what is checked against it.
    this.sawLast(partition, layout, answer.last);
    return effect;
  }

  /** the table read at allocation `last`: raises the guard of fetches sent from now on */
  private sawLast(partition: PartitionState, layout: PartitionLayout, last: bigint): void {
    const range = rangeOf(layout, last);
    if (range === undefined) return;
    partition.observedEnd = max(partition.observedEnd, range.end);
    if (!partition.ownEnds.includes(range.end)) partition.observedOthers = max(partition.observedOthers, range.end);
  }

  /** a skip of this partition, made here or observed on a poll: held ranges go, a halt ends */
  private skipped(partition: PartitionState): void {
    partition.halted = undefined;
    partition.epoch++;
    // The guard restarts from what was issued here: this instance's own fetched-but-never-issued
    // ranges are gone, and keeping them would halt it again on a target between the two.
    // What others were seen to draw stays: a skip below it (accepted before any instance
    // halted and published) must halt this instance rather than let it issue those ids again.
    const issued = this.events.dropLane?.(String(partition.store.idx)) ?? 0n;
    partition.fetchedEnd = issued > 0n ? issued : undefined;
    partition.observedEnd = partition.observedOthers;
  }

  /**
   * The smallest `{"to": N}` this instance accepts for a partition: the highest id it issued
   * or saw another instance draw (its own fetched-but-never-issued ranges left out, so a halted
   * partition can always be resumed).
   */
  smallestTarget(idx: number): bigint {
    const partition = this.partition(idx);
    const issued = this.events.issuedEnd?.(String(idx)) ?? 0n;
    const reached = max(issued, partition.observedOthers) ?? 0n;
    return reached > 0n ? reached - 1n : 0n;
  }

  /** halted partitions and their smallest targets, published on every poll period */
  async publishTargets(): Promise<void> {
    const halted = this.partitions.filter((p) => p.halted !== undefined);
    if (halted.length === 0 || this.targets === undefined) return;
    await this.targets.publish(
      this.instanceId,
      halted.map((p) => ({ idx: p.store.idx, above: this.smallestTarget(p.store.idx) })),
    );
  }

  /** the smallest target a skip of idx may take: this instance's own and every live halted one's */
  async requiredTarget(idx: number): Promise<bigint> {
    const own = this.smallestTarget(idx);
    const published = (await this.targets?.required([idx]))?.get(idx);
    return published !== undefined && published > own ? published : own;
  }

  private noneUsable(): IdError {
    const halted = this.partitions.some((p) => p.halted !== undefined);
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
    if (p.halted) return `rolled back: its database went back to id ${p.halted.fetched}, below ${p.halted.watermark} already fetched or seen here; needs an admin skip (POST /admin/partitions/${p.store.idx}/skip)`;
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
        ...(p.halted ? { smallestSkipTarget: this.smallestTarget(p.store.idx).toString() } : {}),
        ...(reason === null ? {} : { reason }),
        ...(reason !== null && p.lastError !== null && p.halted === undefined ? { code: publicError(p.lastError).code } : {}),
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

function max(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}
