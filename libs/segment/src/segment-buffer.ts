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
  fetch(step: number): Promise<FetchedRange>;
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
  /** told once per halt, to log at error level and count */
  onRollback?: (rollback: Rollback) => void;
  /** told of fetch failures (logging); the buffer retries by itself */
  onFetchError?: (error: unknown) => void;
  onFetched?: (range: FetchedRange, ms: number) => void;
}

export interface Rollback {
  lane: string;
  /** highest end this process fetched in the lane */
  watermark: bigint;
  /** start of the refused range */
  fetchedStart: bigint;
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
  resolve: (ids: string[]) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
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

/**
 * The double buffer: ids from the current segment, the next fetched in the background once a
 * share of the current is used; at most one fetch in flight. `take` is synchronous while ids are
 * buffered. A batch may span segments and is all or nothing. The rollback guard refuses any
 * range that starts below what this process already fetched in its lane.
 */
export class SegmentBuffer {
  private readonly segments: Segment[] = [];
  private available = 0;
  private readonly waiters: Waiter[] = [];
  private inFlight = false;
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs = MIN_RETRY_MS;
  private fetchBlockedUntil = 0;
  private readonly watermarks = new Map<string, bigint>();
  private halted: Rollback | null = null;
  private stepInUse: number;
  private lastFetchAt: number | null = null;
  private lastFetchMs: number | null = null;
  private lastError: unknown = null;
  private closed = false;
  private readonly clock: Clock;

  constructor(
    readonly key: string,
    private readonly source: RangeSource,
    private readonly options: SegmentBufferOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.stepInUse = options.step;
  }

  /** count ids, in order; synchronous while buffered, else a Promise that waits up to waitMs */
  take(count: number): string[] | Promise<string[]> {
    if (this.halted !== null) throw this.haltedError();
    if (this.waiters.length === 0 && this.available >= count) {
      const ids = this.drain(count);
      this.maybeFetch();
      return ids;
    }
    return this.enqueue(count);
  }

  /**
   * count ids as consecutive ranges [first, last] (one per segment spanned), for clients that
   * expand them themselves (format=ranges); the same rules as take. While buffered this costs one
   * step per segment, not per id.
   */
  takeRanges(count: number): IdRange[] | Promise<IdRange[]> {
    if (this.halted !== null) throw this.haltedError();
    if (this.waiters.length > 0 || this.available < count) return this.enqueue(count).then(rangesOf);
    const ranges: IdRange[] = [];
    for (let left = count; left > 0; ) {
      const segment = this.segments[0];
      const n = Math.min(segment.remaining, left);
      ranges.push(segment.takeRange(n));
      left -= n;
      if (segment.remaining === 0) this.segments.shift();
    }
    this.available -= count;
    this.maybeFetch();
    return ranges;
  }

  /**
   * One id as a number, for go-id-alloc's /alloc; undefined when it must wait (call take then).
   * The caller has checked the range is below 2^53.
   */
  takeNumberSync(): number | undefined {
    if (this.halted !== null) throw this.haltedError();
    if (this.waiters.length > 0 || this.available === 0) return undefined;
    const segment = this.segments[0];
    const id = segment.takeNumber();
    this.available--;
    if (segment.remaining === 0) this.segments.shift();
    this.maybeFetch();
    return id;
  }

  /** the highest id end this buffer has fetched (the space it has reached) */
  get highestEnd(): bigint {
    let max = 0n;
    for (const end of this.watermarks.values()) if (end > max) max = end;
    return max;
  }

  /** ids this buffer can issue without the database */
  get idsLeft(): number {
    return this.available;
  }

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
    this.options.step = step;
    if (!this.options.dynamicStep || this.stepInUse < step) this.stepInUse = step;
  }

  /**
   * After an admin skip: held segments may overlap ids another instance issued from the
   * rolled-back database, so they are dropped; the next fetch starts fresh.
   */
  resume(): void {
    this.halted = null;
    this.segments.length = 0;
    this.available = 0;
    this.lastError = null;
    this.fetchBlockedUntil = 0;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.rejectAll(new IdError('SEGMENT_UNAVAILABLE', 'shutting down'));
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

  private haltedError(): IdError {
    const h = this.halted!;
    return new IdError(
      'SEGMENT_UNAVAILABLE',
      `key "${this.key}" halted: the database rolled back below ids this instance issued ` +
        `(fetched a range starting at ${h.fetchedStart}, below ${h.watermark}${h.lane ? ` in partition ${h.lane}` : ''}); ` +
        'an admin must skip it past every id issued',
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
      if (segment.remaining === 0) this.segments.shift();
    }
    this.available -= count;
    return ids;
  }

  private enqueue(count: number): Promise<string[]> {
    return new Promise<string[]>((resolve, reject) => {
      const waiter: Waiter = {
        count,
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.waiters.indexOf(waiter);
          if (at !== -1) this.waiters.splice(at, 1);
          reject(this.unavailable());
          this.serveWaiters(); // a big batch timing out may unblock smaller ones behind it
        }, this.options.waitMs),
      };
      this.waiters.push(waiter);
      this.maybeFetch();
    });
  }

  private unavailable(): IdError {
    const cause = this.lastError;
    if (isIdError(cause) && (cause.code === 'ID_SPACE_EXHAUSTED' || cause.code === 'UNKNOWN_KEY')) return cause;
    const why = cause === null ? 'the segment fetch has not completed' : `the database is unavailable (${(cause as Error).message ?? cause})`;
    return new IdError('SEGMENT_UNAVAILABLE', `no ids buffered for key "${this.key}" within ${this.options.waitMs} ms: ${why}`);
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0 && this.available >= this.waiters[0].count) {
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.drain(waiter.count));
    }
  }

  private rejectAll(error: unknown): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  /** the preload rule; also keeps fetching while waiters need more than is buffered */
  private maybeFetch(): void {
    if (this.inFlight || this.halted !== null || this.closed) return;
    const needed = this.waiters.reduce((sum, w) => sum + w.count, 0);
    const current = this.segments[0];
    const wanted =
      needed > this.available ||
      this.segments.length === 0 ||
      (this.segments.length === 1 && current.used >= this.options.preload);
    if (!wanted) return;
    const wait = this.fetchBlockedUntil - this.clock.now();
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
    const { dynamicStep, step, stepMax } = this.options;
    if (!dynamicStep || this.lastFetchAt === null) return this.stepInUse;
    const lived = now - this.lastFetchAt;
    if (lived < TARGET_LIFE_MS) return this.stepInUse * 2 <= stepMax ? this.stepInUse * 2 : this.stepInUse;
    if (lived < 2 * TARGET_LIFE_MS) return this.stepInUse;
    return Math.max(Math.floor(this.stepInUse / 2), step);
  }

  private startFetch(): void {
    this.inFlight = true;
    const started = this.clock.now();
    const step = this.nextStep(started);
    let promise: Promise<FetchedRange>;
    try {
      promise = this.source.fetch(step);
    } catch (e) {
      promise = Promise.reject(e);
    }
    promise.then(
      (range) => this.fetched(range, step, started),
      (error) => this.fetchFailed(error),
    );
  }

  private fetched(range: FetchedRange, step: number, started: number): void {
    this.inFlight = false;
    if (this.closed) return;
    const now = this.clock.now();
    const lane = range.lane ?? DEFAULT_LANE;
    const watermark = this.watermarks.get(lane);
    if (watermark !== undefined && range.start < watermark) {
      this.halt({ lane, watermark, fetchedStart: range.start });
      return;
    }
    this.watermarks.set(lane, range.end);
    this.lastError = null;
    this.retryDelayMs = MIN_RETRY_MS;
    this.fetchBlockedUntil = 0;
    this.lastFetchAt = now;
    this.lastFetchMs = now - started;
    this.stepInUse = step;
    if (range.end > range.start) {
      this.segments.push(new Segment(range.start, range.end));
      this.available += Number(range.end - range.start);
    }
    this.options.onFetched?.(range, this.lastFetchMs);
    this.serveWaiters();
    this.maybeFetch();
  }

  private fetchFailed(error: unknown): void {
    this.inFlight = false;
    if (this.closed) return;
    this.lastError = error;
    this.options.onFetchError?.(error);
    if (isIdError(error) && (error.code === 'UNKNOWN_KEY' || error.code === 'ID_SPACE_EXHAUSTED')) {
      // not a passing fault: tell everyone waiting now rather than at their deadline
      this.rejectAll(error);
    }
    this.fetchBlockedUntil = this.clock.now() + this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RETRY_MS);
    this.maybeFetch();
  }

  private halt(rollback: Rollback): void {
    this.halted = rollback;
    // Held ranges may overlap what other instances now issue from the rolled-back database.
    this.segments.length = 0;
    this.available = 0;
    this.options.onRollback?.(rollback);
    this.rejectAll(this.haltedError());
  }
}
