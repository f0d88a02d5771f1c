import { Clock, IdError, IdRange, isIdError, systemClock } from '@app/core';
import { Segment } from './segment';

/** One fetched range [start, end). `lane` names an independent sequence (a partition); one by default. */
export interface FetchedRange {
  start: bigint;
  end: bigint;
  lane?: string;
}

/** Where a buffer gets its ranges from: one key of leaf_alloc, or a set of partitions. */
export interface RangeSource {
  /** `buffer`: the buffer asking, so one source may serve many keys (no object per key) */
  fetch(step: number, buffer: SegmentBuffer): Promise<FetchedRange>;
}

export interface SegmentBufferOptions {
  /** share of the current segment used before the next is fetched (SEGMENT_PRELOAD) */
  preload: number;
  /** how long a request waits for ids before 503 (SEGMENT_WAIT_MS) */
  waitMs: number;
  /** the stored step: the first step, and the floor of the dynamic one */
  step: number;
  /** ceiling of the dynamic step (SEGMENT_STEP_MAX) */
  stepMax: number;
  dynamicStep: boolean;
  clock?: Clock;
  /**
   * elapsed ms for the retry back-off (performance.now by default): the wall clock may step, and
   * a step back would stretch the back-off by the step
   */
  monotonic?: () => number;
  /**
   * told once per halt, to log at error level and count. The hooks are told which buffer: one
   * options object (a prototype with per-key step and stepMax on top) may serve every key.
   */
  onRollback?: (rollback: Rollback, buffer: SegmentBuffer) => void;
  /** told of fetch failures (logging); the buffer retries by itself */
  onFetchError?: (error: unknown, buffer: SegmentBuffer) => void;
  onFetched?: (range: FetchedRange, ms: number, buffer: SegmentBuffer) => void;
  /** requests allowed to wait at once; one more is refused at once (SEGMENT_UNAVAILABLE) */
  maxWaiters?: number;
  /**
   * the ids buffered by every buffer sharing it, kept as they change (a closed buffer's taken
   * out): totals over 100,000 keys without walking them
   */
  tally?: IdsTally;
}

/** a running sum of SegmentBuffer.idsLeft over the buffers that share it */
export interface IdsTally {
  idsLeft: number;
}

export interface Rollback {
  lane: string;
  /** what the database had already handed out, as this process knew it (fetched or observed) */
  watermark: bigint;
  /** start of the refused range, or the max_id a poll read */
  fetchedStart: bigint;
  /** seen by the poll (the table's max_id went back), not by a fetch */
  observed?: boolean;
}

export interface SegmentBufferState {
  current: { start: string; end: string; next: string } | null;
  nextSegment: { start: string; end: string; next: string } | null;
  stepInUse: number;
  lastFetchMs: number | null;
  idsLeft: number;
  ready: boolean;
  reason: string | null;
}

interface Waiter {
  count: number;
  /** waits for `count` ids to be buffered without taking them (go-id-alloc's /health) */
  peek?: boolean;
  resolve: (ids: string[]) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
  /** served, timed out or rejected: skipped when it reaches the head */
  done: boolean;
}

/** ids issued in order (a waiter's batch) folded into runs of consecutive values */
function rangesOf(ids: string[]): IdRange[] {
  const ranges: IdRange[] = [];
  let first = ids[0];
  let last = BigInt(first);
  for (let i = 1; i < ids.length; i++) {
    const id = BigInt(ids[i]);
    if (id !== last + 1n) {
      ranges.push([first, last.toString()]);
      first = ids[i];
    }
    last = id;
  }
  ranges.push([first, last.toString()]);
  return ranges;
}

/** a failure that may pass by itself (the database away), as opposed to an exhausted or deleted key */
export function isDatabaseTrouble(error: unknown): boolean {
  return error !== null && (!isIdError(error) || error.code === 'DATABASE_UNAVAILABLE');
}

/** Leaf's dynamic step: a segment should last 15 min; double under it, halve over 30 min. */
const TARGET_LIFE_MS = 15 * 60_000;
const MIN_RETRY_MS = 50;
const MAX_RETRY_MS = 1000;
const DEFAULT_LANE = '';
const DEFAULT_MAX_WAITERS = 10_000;
/** own fetch ends remembered per lane, to tell a poll's reading of our own fetch from another's */
const OWN_ENDS_KEPT = 32;

const performanceNow = () => performance.now();

/**
 * What the rollback guard keeps per lane. A key's buffer has one lane, the default: one record
 * made with the buffer. Partition lanes go in a Map made on first use. (Five Maps per buffer cost
 * ~1 KB: too much for 100,000 idle keys.)
 */
interface LaneState {
  /** highest end fetched (and kept) */
  fetchedEnd: bigint | undefined;
  /** own fetch ends, newest last: exact-size arrays replaced on each fetch (rare; a pushed-to array keeps room for 17) */
  ownEnds: readonly bigint[] | undefined;
  /** highest max_id a poll read */
  observed: bigint | undefined;
  /** the same, leaving out readings equal to one of our own fetches */
  observedOthers: bigint | undefined;
  /** end of the ids handed out from ranges no longer held */
  issuedEnd: bigint | undefined;
  /**
   * a partition lane's halt (the others serve on). Never set on the default lane, whose halt is
   * the buffer's (`halted`): its record keeps no room for it.
   */
  halted?: Rollback;
  /** a partition lane's last inexact reading was below what was fetched (see observe); never on the default lane */
  readBelow?: boolean;
}

function newLane(): LaneState {
  return { fetchedEnd: undefined, ownEnds: undefined, observed: undefined, observedOthers: undefined, issuedEnd: undefined };
}

/** no waiter: every idle buffer shares this (never pushed to: enqueue makes its own) */
const NO_WAITERS: Waiter[] = [];

function maxOf(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}

/**
 * The double buffer: ids from the current segment, the next fetched in the background once a
 * share of the current is used; at most one fetch in flight. `take` is synchronous while ids are
 * buffered. A batch may span segments and is all or nothing. Waiters are served in arrival
 * order; each costs O(1) (a running sum of what they need) and their number is bounded.
 *
 * The rollback guard, one rule for segment keys and partitions: per lane a watermark, the
 * highest of what this process fetched and what its poll observed the table to hold (an
 * observation counts only against fetches sent after it arrived, so a process never halts on
 * its own fetch). A fetched range that starts below it, or a poll that reads the table below
 * what this process had fetched, means the database lost writes: the lane halts, its ranges are
 * dropped, and it waits for an admin skip. A key's buffer has one lane, so the buffer halts; a
 * partition lane halts alone and the other partitions serve on. A skip, observed through the
 * poll or made here, drops every range of the lane and any fetch in flight; the guard restarts
 * from what was issued and what others were seen to draw (that floor stays across the skip),
 * and the smallest skip target is the same two numbers (`smallestTarget`, `reachedByAll`).
 */
export class SegmentBuffer {
  /** replaced, not pushed to, on a fetch (see ownEnds); shift and truncation only shrink it */
  private segments: Segment[] = [];
  private available = 0;
  private waiters: Waiter[] = NO_WAITERS;
  /** index of the oldest waiter that may still be live */
  private waiterHead = 0;
  private waiting = 0;
  private waitingNeed = 0;
  private inFlight = false;
  /** numbers each fetch; fetches numbered up to discardUpTo were in flight at a skip */
  private fetchSeq = 0;
  private discardUpTo = 0;
  /** the observed floor per lane when the fetch in flight was sent */
  private floorAtSend: Map<string, bigint> | null = null;
  private stepVersion = 0;

  /** counts stored-step changes: a reader sent before one must not apply what it read */
  get storedStepVersion(): number {
    return this.stepVersion;
  }
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs = MIN_RETRY_MS;
  private fetchBlockedUntil = 0;
  /** the default lane's guard state */
  private readonly main: LaneState = newLane();
  /** partition lanes' */
  private otherLanes: Map<string, LaneState> | undefined = undefined;
  private halted: Rollback | null = null;
  /** the smallest skip target any instance requires (published through the database) */
  private clusterTarget: bigint | null = null;
  private stepInUse: number;
  /** the stored step (the floor of the dynamic one) and the ceiling: the buffer's own, the options may be shared */
  private step: number;
  private readonly stepMax: number;
  private lastFetchAt: number | null = null;
  private lastFetchMs: number | null = null;
  private lastError: unknown = null;
  private closed = false;

  /**
   * `options` may be one object for every buffer; `sizes` (the options by default) is this key's
   * step and ceiling, copied.
   */
  constructor(
    readonly key: string,
    private readonly source: RangeSource,
    private readonly options: SegmentBufferOptions,
    sizes: { step: number; stepMax: number } = options,
  ) {
    this.step = sizes.step;
    this.stepMax = sizes.stepMax;
    this.stepInUse = sizes.step;
  }

  private get clock(): Clock {
    return this.options.clock ?? systemClock;
  }

  private monotonic(): number {
    return (this.options.monotonic ?? performanceNow)();
  }

  private lane(lane: string): LaneState | undefined {
    return lane === DEFAULT_LANE ? this.main : this.otherLanes?.get(lane);
  }

  private laneFor(lane: string): LaneState {
    if (lane === DEFAULT_LANE) return this.main;
    let state = (this.otherLanes ??= new Map()).get(lane);
    if (state === undefined) this.otherLanes.set(lane, (state = newLane()));
    return state;
  }

  private lanes(): [string, LaneState][] {
    return [[DEFAULT_LANE, this.main], ...(this.otherLanes ?? [])];
  }

  /** count ids, in order; synchronous while buffered, else a Promise that waits up to waitMs */
  take(count: number): string[] | Promise<string[]> {
    if (this.halted !== null) throw this.haltedError();
    if (this.waiting === 0 && this.available >= count) {
      const ids = this.drain(count);
      this.maybeFetch();
      return ids;
    }
    return this.enqueue(count);
  }

  /**
   * The ids buffered, once there are any: a key that holds none fetches now and this waits for it
   * up to waitMs (then SEGMENT_UNAVAILABLE). Takes nothing.
   */
  stocked(): number | Promise<number> {
    if (this.halted !== null) throw this.haltedError();
    if (this.waiting === 0 && this.available > 0) return this.available;
    return this.enqueue(1, true).then(() => this.available);
  }

  /**
   * count ids as consecutive ranges [first, last] (one per segment spanned), for clients that
   * expand them themselves (format=ranges); the same rules as take. While buffered this costs one
   * step per segment, not per id.
   */
  takeRanges(count: number): IdRange[] | Promise<IdRange[]> {
    if (this.halted !== null) throw this.haltedError();
    if (this.waiting > 0 || this.available < count) return this.enqueue(count).then(rangesOf);
    const ranges: IdRange[] = [];
    for (let left = count; left > 0; ) {
      const segment = this.segments[0];
      const n = Math.min(segment.remaining, left);
      ranges.push(segment.takeRange(n));
      left -= n;
      if (segment.remaining === 0) this.retire();
    }
    this.available -= count;
    if (this.options.tally !== undefined) this.options.tally.idsLeft -= count;
    this.maybeFetch();
    return ranges;
  }

  /**
   * One id as a number, for go-id-alloc's /alloc; undefined when it must wait (call take then).
   * The caller has checked the range is below 2^53.
   */
  takeNumberSync(): number | undefined {
    if (this.halted !== null) throw this.haltedError();
    if (this.waiting > 0 || this.available === 0) return undefined;
    const segment = this.segments[0];
    const id = segment.takeNumber();
    this.available--;
    if (this.options.tally !== undefined) this.options.tally.idsLeft--;
    if (segment.remaining === 0) this.retire();
    this.maybeFetch();
    return id;
  }

  /** a fetch has succeeded (a key's first fetch goes batched with other keys', see FetchBatcher) */
  get hasFetched(): boolean {
    return this.lastFetchAt !== null;
  }

  /** the highest id end this buffer has fetched (the space it has reached) */
  get highestEnd(): bigint {
    let max = 0n;
    for (const [, l] of this.lanes()) if (l.fetchedEnd !== undefined && l.fetchedEnd > max) max = l.fetchedEnd;
    return max;
  }

  /**
   * the highest id end this process knows the database handed out: fetched here, or observed by
   * a poll (another instance's fetch). What a key made again must start above.
   */
  get reachedEnd(): bigint {
    let max = this.highestEnd;
    for (const [, l] of this.lanes()) {
      if (l.observed !== undefined && l.observed > max) max = l.observed;
      if (l.observedOthers !== undefined && l.observedOthers > max) max = l.observedOthers;
    }
    return max;
  }

  /** the highest end fetched in a lane (read when a poll is sent, passed back to observe) */
  fetchedEnd(lane = DEFAULT_LANE): bigint | undefined {
    return this.lane(lane)?.fetchedEnd;
  }

  /** one past the highest id handed out in a lane; 0 when none */
  issuedEnd(lane = DEFAULT_LANE): bigint {
    let end = this.lane(lane)?.issuedEnd ?? 0n;
    for (const s of this.segments) if (s.lane === lane && s.issuedCount > 0 && s.nextId > end) end = s.nextId;
    return end;
  }

  /**
   * One past the highest id issued in the lane or seen drawn there by another instance (0: none):
   * a skip must let out nothing below it. This instance's own fetched-but-never-issued ranges are
   * left out, so a halted lane can always be resumed.
   */
  reachedByAll(lane = DEFAULT_LANE): bigint {
    const issued = this.issuedEnd(lane);
    const others = this.lane(lane)?.observedOthers ?? 0n;
    return issued > others ? issued : others;
  }

  /**
   * The smallest skip target (`{"to": N}`) this instance accepts for a lane: 1 + the larger of the
   * highest id it issued and the highest max_id it observed another instance produce. Its own
   * fetched-but-never-issued ranges are left out, so a halted key can always be resumed.
   */
  smallestTarget(lane = DEFAULT_LANE): bigint {
    const issued = this.issuedEnd(lane) - 1n;
    const others = this.lane(lane)?.observedOthers ?? 0n;
    return 1n + (issued > others ? issued : others);
  }

  /** the largest smallest-target published by any live instance, shown when halted */
  setClusterTarget(target: bigint | null): void {
    this.clusterTarget = target;
  }

  /**
   * A poll's answer: the table holds maxId for the lane. It counts into the watermark of fetches
   * sent from now on. `fetchedEndAtSend` is fetchedEnd(lane) when the poll was sent: a reading
   * below it means the table went back, and the lane halts. Unless `inexact` (a partition's
   * MAX(id), which concurrent REPLACEs can leave below an allocation already handed out): then the
   * lane is only marked `readBelow` (its smallest target is published, as a halted lane's is),
   * until a reading at or above what it fetched or a skip.
   */
  observe(lane: string, maxId: bigint, fetchedEndAtSend?: bigint, inexact = false): void {
    if (this.closed) return;
    const below = fetchedEndAtSend !== undefined && maxId < fetchedEndAtSend;
    if (inexact) {
      if (below) this.laneFor(lane).readBelow = true;
      else if (fetchedEndAtSend !== undefined && this.lane(lane)?.readBelow) this.laneFor(lane).readBelow = undefined;
    } else if (below && this.laneHalt(lane) === undefined) {
      this.halt({ lane, watermark: fetchedEndAtSend, fetchedStart: maxId, observed: true });
    }
    const l = this.laneFor(lane);
    if (l.observed === undefined || maxId > l.observed) l.observed = maxId;
    if (!(l.ownEnds ?? []).includes(maxId)) {
      if (l.observedOthers === undefined || maxId > l.observedOthers) l.observedOthers = maxId;
    }
  }

  /**
   * The source is about to send the statement that draws a range for `lane` (a source of several
   * lanes may try one after another within one fetch): what polls read for the lane until now
   * counts against that range, as it would had the fetch been sent now.
   */
  sending(lane: string): void {
    if (!this.inFlight) return;
    const observed = this.lane(lane)?.observed;
    if (observed !== undefined) (this.floorAtSend ??= new Map()).set(lane, observed);
  }

  /**
   * The database handed the lane a range whose answer was lost (its outcome unknown): never issued
   * from, but the lane reached its end, and a range handed out later below it is a rollback.
   */
  reachedUnissued(lane: string, end: bigint): void {
    const l = this.laneFor(lane);
    if (l.fetchedEnd === undefined || end > l.fetchedEnd) l.fetchedEnd = end;
  }

  /** a poll read the lane below what this process had fetched, inexactly (see observe) */
  readBelow(lane: string): boolean {
    return this.lane(lane)?.readBelow === true;
  }

  /** the lane's halt, if the guard halted it (the default lane's is the buffer's) */
  laneHalt(lane = DEFAULT_LANE): Rollback | undefined {
    if (lane === DEFAULT_LANE) return this.halted ?? undefined;
    return this.otherLanes?.get(lane)?.halted;
  }

  /**
   * The lane's skip counter changed (an admin skip, seen here or on another instance): every
   * range held for the lane, and any fetch in flight, may lie below the target, so all are
   * dropped; the guard restarts from what was issued and what others were seen to reach. A
   * halted lane resumes.
   */
  skipObserved(lane = DEFAULT_LANE): void {
    if (this.closed) return;
    this.discardUpTo = this.fetchSeq;
    this.dropHeld((s) => s.lane === lane);
    const l = this.laneFor(lane);
    l.fetchedEnd = l.issuedEnd;
    // What others were seen to draw stays in the guard: a skip below it (accepted before any
    // instance halted and published its target) must halt this instance rather than let it
    // issue those ids again. Its own fetched-but-never-issued ranges go: keeping them would halt
    // it again on a target between the two.
    l.observed = l.observedOthers;
    if (l.readBelow) l.readBelow = undefined;
    if (this.laneHalt(lane) !== undefined) {
      if (lane === DEFAULT_LANE) this.halted = null;
      else l.halted = undefined;
      this.lastError = null;
      this.fetchBlockedUntil = 0;
    }
    this.maybeFetch();
  }

  /** ids this buffer can issue without the database */
  get idsLeft(): number {
    return this.available;
  }

  /** the buffer as a whole halted: its default lane (a key). A partition lane halts alone: laneHalt. */
  get isHalted(): boolean {
    return this.halted !== null;
  }

  get rollback(): Rollback | null {
    return this.halted;
  }

  /** the last fetch failed and nothing has succeeded since */
  get failing(): boolean {
    return this.lastError !== null;
  }

  get lastFetchError(): unknown {
    return this.lastError;
  }

  /** the stored step changed (an admin PATCH, here or on another instance) */
  setStoredStep(step: number): void {
    if (step === this.step) return;
    this.step = step;
    // the last write wins: a fetch in flight, sized before this, must not restore the old step
    this.stepVersion++;
    if (!this.options.dynamicStep || this.stepInUse < step) this.stepInUse = step;
  }

  /** an admin skip seen for every lane at once */
  resume(): void {
    const fetched = this.lanes().filter(([, l]) => l.fetchedEnd !== undefined).map(([lane]) => lane);
    for (const lane of new Set([DEFAULT_LANE, ...fetched, ...this.segments.map((s) => s.lane)])) {
      this.skipObserved(lane);
    }
  }

  /** `reason`: what the requests still waiting are answered (a deleted key's UNKNOWN_KEY) */
  close(reason: unknown = new IdError('SEGMENT_UNAVAILABLE', 'shutting down')): void {
    // what it holds no longer counts: it will never issue it
    if (!this.closed && this.options.tally !== undefined) this.options.tally.idsLeft -= this.available;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.rejectAll(reason);
  }

  state(): SegmentBufferState {
    const show = (s: Segment | undefined) =>
      s ? { start: s.start.toString(), end: s.end.toString(), next: s.next } : null;
    return {
      current: show(this.segments[0]),
      nextSegment: show(this.segments[1]),
      stepInUse: this.stepInUse,
      lastFetchMs: this.lastFetchMs,
      idsLeft: this.available,
      ready: this.halted === null && (this.available > 0 || this.lastError === null),
      reason: this.reason(),
    };
  }

  private reason(): string | null {
    if (this.halted) return this.haltedError().message;
    if (this.lastError !== null) {
      return `last fetch failed: ${this.lastError instanceof Error ? this.lastError.message : String(this.lastError)}`;
    }
    return null;
  }

  /** the smallest target to name when halted: ours, or the largest any live instance published */
  requiredTarget(lane = DEFAULT_LANE): bigint {
    const own = this.smallestTarget(lane);
    return this.clusterTarget !== null && this.clusterTarget > own ? this.clusterTarget : own;
  }

  private haltedError(): IdError {
    const h = this.halted!;
    const seen = h.observed
      ? `a poll read max_id ${h.fetchedStart}, below ${h.watermark} that this instance had fetched`
      : `fetched a range starting at ${h.fetchedStart}, below ${h.watermark}`;
    return new IdError(
      'SEGMENT_UNAVAILABLE',
      `key "${this.key}" halted: the database rolled back below ids already handed out ` +
        `(${seen}); an admin must skip it past every id issued: ` +
        `POST /admin/segments/${this.key}/skip {"to": N} with N >= ${this.requiredTarget(h.lane)}`,
      { retryAfter: 5 },
    );
  }

  private drain(count: number): string[] {
    const ids = new Array<string>(count);
    let i = 0;
    while (i < count) {
      const segment = this.segments[0];
      let n = Math.min(segment.remaining, count - i);
      while (n-- > 0) ids[i++] = segment.takeString();
      if (segment.remaining === 0) this.retire();
    }
    this.available -= count;
    if (this.options.tally !== undefined) this.options.tally.idsLeft -= count;
    return ids;
  }

  /** what the table reads after our own fetch, kept or not: a poll reading it is not another's draw */
  private rememberOwnEnd(range: FetchedRange): void {
    const lane = range.lane ?? DEFAULT_LANE;
    const l = this.laneFor(lane);
    const ends = l.ownEnds ?? [];
    l.ownEnds = (ends.length < OWN_ENDS_KEPT ? ends : ends.slice(1)).concat([range.end]);
  }

  /** the head segment is used up */
  private retire(): void {
    const segment = this.segments.shift()!;
    this.noteIssued(segment);
  }

  private noteIssued(segment: Segment): void {
    if (segment.issuedCount === 0) return;
    const end = segment.nextId;
    const l = this.laneFor(segment.lane);
    if (l.issuedEnd === undefined || end > l.issuedEnd) l.issuedEnd = end;
  }

  /** drops held ranges (remembering what was issued from them) */
  private dropHeld(which: (s: Segment) => boolean): void {
    let kept = 0;
    for (const s of this.segments) {
      if (which(s)) {
        this.noteIssued(s);
        this.available -= s.remaining;
        if (this.options.tally !== undefined) this.options.tally.idsLeft -= s.remaining;
      } else {
        this.segments[kept++] = s;
      }
    }
    this.segments.length = kept;
  }

  private enqueue(count: number, peek = false): Promise<string[]> {
    if (this.waiting >= (this.options.maxWaiters ?? DEFAULT_MAX_WAITERS)) {
      throw new IdError('SEGMENT_UNAVAILABLE', `too many requests waiting for ids of key "${this.key}"; try again`);
    }
    return new Promise<string[]>((resolve, reject) => {
      const waiter: Waiter = {
        count,
        peek,
        resolve,
        reject,
        done: false,
        timer: setTimeout(() => {
          this.settle(waiter);
          reject(this.unavailable());
          this.serveWaiters(); // a big batch timing out may unblock smaller ones behind it
        }, this.options.waitMs),
      };
      if (this.waiters === NO_WAITERS) this.waiters = [];
      this.waiters.push(waiter);
      this.waiting++;
      this.waitingNeed += count;
      this.maybeFetch();
    });
  }

  /** takes a waiter out of the running sums; the queue drops it once it reaches the head */
  private settle(waiter: Waiter): void {
    if (waiter.done) return;
    waiter.done = true;
    clearTimeout(waiter.timer);
    this.waiting--;
    this.waitingNeed -= waiter.count;
  }

  /** the oldest live waiter, dropping settled ones off the head */
  private headWaiter(): Waiter | undefined {
    while (this.waiterHead < this.waiters.length && this.waiters[this.waiterHead].done) this.waiterHead++;
    if (this.waiterHead === this.waiters.length) {
      this.waiters = NO_WAITERS; // an emptied array keeps its room
      this.waiterHead = 0;
      return undefined;
    }
    if (this.waiterHead > 1024 && this.waiterHead * 2 > this.waiters.length) {
      this.waiters.splice(0, this.waiterHead);
      this.waiterHead = 0;
    }
    return this.waiters[this.waiterHead];
  }

  private unavailable(): IdError {
    const cause = this.lastError;
    if (isIdError(cause) && (cause.code === 'ID_SPACE_EXHAUSTED' || cause.code === 'UNKNOWN_KEY')) return cause;
    const why = cause === null ? 'the segment fetch has not completed' : `the database is unavailable (${(cause as Error).message ?? cause})`;
    return new IdError('SEGMENT_UNAVAILABLE', `no ids buffered for key "${this.key}" within ${this.options.waitMs} ms: ${why}`);
  }

  /**
   * In arrival order: the head waiter has every buffered id set aside for it until its count is
   * met (they stay in the buffer, unissued, and go to those behind it if it times out).
   */
  private serveWaiters(): void {
    for (let w = this.headWaiter(); w !== undefined && this.available >= w.count; w = this.headWaiter()) {
      this.settle(w);
      w.resolve(w.peek ? [] : this.drain(w.count));
    }
  }

  private rejectAll(error: unknown): void {
    const waiters = this.waiters;
    this.waiters = NO_WAITERS;
    this.waiterHead = 0;
    for (const waiter of waiters) {
      if (waiter.done) continue;
      this.settle(waiter);
      waiter.reject(error);
    }
  }

  /** the preload rule; also keeps fetching while waiters need more than is buffered */
  private maybeFetch(): void {
    if (this.inFlight || this.halted !== null || this.closed) return;
    const needed = this.waitingNeed;
    const current = this.segments[0];
    const wanted =
      needed > this.available ||
      this.segments.length === 0 ||
      (this.segments.length === 1 && current.used >= this.options.preload);
    if (!wanted) return;
    const wait = this.fetchBlockedUntil - this.monotonic();
    if (wait > 0) {
      // A failed fetch backs off, then retries by itself, with or without traffic: an instance
      // taken out of rotation for having nothing to issue must still notice the database is back.
      if (this.retryTimer === undefined && (needed > 0 || isDatabaseTrouble(this.lastError))) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.maybeFetch();
        }, wait);
        this.retryTimer.unref();
      }
      return;
    }
    this.startFetch();
  }

  private nextStep(now: number): number {
    const { dynamicStep } = this.options;
    const { step, stepMax } = this;
    if (!dynamicStep || this.lastFetchAt === null) return this.stepInUse;
    const lived = now - this.lastFetchAt;
    if (lived < TARGET_LIFE_MS) return this.stepInUse * 2 <= stepMax ? this.stepInUse * 2 : this.stepInUse;
    if (lived < 2 * TARGET_LIFE_MS) return this.stepInUse;
    return Math.max(Math.floor(this.stepInUse / 2), step);
  }

  /** what polls read per lane, as of now (null: nothing) */
  private observedNow(): Map<string, bigint> | null {
    let floor: Map<string, bigint> | null = null;
    for (const [lane, l] of this.lanes()) if (l.observed !== undefined) (floor ??= new Map()).set(lane, l.observed);
    return floor;
  }

  private startFetch(): void {
    this.inFlight = true;
    const seq = ++this.fetchSeq;
    const stepVersion = this.stepVersion;
    this.floorAtSend = this.observedNow();
    const started = this.clock.now();
    const step = this.nextStep(started);
    let promise: Promise<FetchedRange>;
    try {
      promise = this.source.fetch(step, this);
    } catch (e) {
      promise = Promise.reject(e);
    }
    promise.then(
      (range) => this.fetched(range, step, started, seq, stepVersion),
      (error) => this.fetchFailed(error),
    );
  }

  private fetched(range: FetchedRange, step: number, started: number, seq: number, stepVersion: number): void {
    this.inFlight = false;
    // only the fetch it was taken for reads it: not held while the key idles
    const floorAtSend = this.floorAtSend;
    this.floorAtSend = null;
    if (this.closed) return;
    this.rememberOwnEnd(range);
    if (seq <= this.discardUpTo) {
      // in flight when a skip was observed: it may have committed before the skip, below its
      // target. Dropped unissued (a gap, never a repeat).
      this.maybeFetch();
      return;
    }
    if (this.halted !== null) return; // halted by a poll while this was in flight: never issued
    const now = this.clock.now();
    const lane = range.lane ?? DEFAULT_LANE;
    if (this.laneHalt(lane) !== undefined) {
      // its lane halted while this was in flight: never issued
      this.maybeFetch();
      return;
    }
    const watermark = maxOf(this.lane(lane)?.fetchedEnd, floorAtSend?.get(lane));
    if (watermark !== undefined && range.start < watermark) {
      this.halt({ lane, watermark, fetchedStart: range.start });
      // a partition lane halts alone: the next fetch draws from another
      if (lane !== DEFAULT_LANE) this.maybeFetch();
      return;
    }
    if (range.lane === undefined) this.sawTableAt(range.start);
    this.laneFor(lane).fetchedEnd = range.end;
    this.lastError = null;
    this.retryDelayMs = MIN_RETRY_MS;
    this.fetchBlockedUntil = 0;
    this.lastFetchAt = now;
    this.lastFetchMs = now - started;
    if (stepVersion === this.stepVersion) this.stepInUse = step;
    if (range.end > range.start) {
      this.segments = this.segments.concat([new Segment(range.start, range.end, lane)]);
      const size = Number(range.end - range.start);
      this.available += size;
      if (this.options.tally !== undefined) this.options.tally.idsLeft += size;
    }
    this.options.onFetched?.(range, this.lastFetchMs, this);
    this.serveWaiters();
    this.maybeFetch();
  }

  /**
   * A segment key's accepted fetch [start, end) shows the table stood at `start` just before it: a max_id
   * another instance produced, unless it is one of this buffer's own ends. It counts as seen
   * drawn by others, as a poll's reading would: those ids were handed out, so a database that
   * lost them must be skipped past them (simulation seed 3001: an instance's own fetch above a
   * lost one was its only sight of it). Partition lanes are not contiguous: not for them.
   */
  private sawTableAt(start: bigint): void {
    const l = this.main;
    if ((l.ownEnds ?? []).includes(start)) return;
    if (l.observedOthers === undefined || start > l.observedOthers) l.observedOthers = start;
  }

  private fetchFailed(error: unknown): void {
    this.inFlight = false;
    this.floorAtSend = null;
    if (this.closed) return;
    this.lastError = error;
    this.options.onFetchError?.(error, this);
    if (isIdError(error) && (error.code === 'UNKNOWN_KEY' || error.code === 'ID_SPACE_EXHAUSTED')) {
      // not a passing fault: tell everyone waiting now rather than at their deadline
      this.rejectAll(error);
    }
    this.fetchBlockedUntil = this.monotonic() + this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RETRY_MS);
    this.maybeFetch();
  }

  private halt(rollback: Rollback): void {
    // Held ranges may overlap what other instances now issue from the rolled-back database.
    if (rollback.lane !== DEFAULT_LANE) {
      this.laneFor(rollback.lane).halted = rollback;
      this.dropHeld((s) => s.lane === rollback.lane);
      this.options.onRollback?.(rollback, this);
      return;
    }
    this.halted = rollback;
    this.dropHeld(() => true);
    this.options.onRollback?.(rollback, this);
    this.rejectAll(this.haltedError());
  }
}
