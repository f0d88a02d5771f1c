import { IdClientError } from './id-client-error';

/** What the server answers: a list of ids, or consecutive ranges [first, last] (format=ranges). */
export interface RefillAnswer {
  ids?: string[];
  ranges?: [string, string][];
}

/** asks the server for count ids */
export type Refill = (count: number) => Promise<RefillAnswer>;

export interface IdCacheOptions {
  /** hold the ids the observed demand needs for this long */
  safeDistanceMs: number;
  /** ids per request at most */
  maxBatch: number;
  /** background requests in flight at most */
  maxInFlight: number;
  /** ids held (in hand and in flight) beyond what waiting callers need, at most */
  maxHeld: number;
  /** the smallest request */
  minBatch: number;
  /**
   * list answers older than this (since their request was sent) are dropped; undefined: no bound.
   * For time-ordered strategies, whose answers are always lists.
   */
  maxAgeMs?: number;
  onDropped?: (count: number) => void;
  /** monotonic ms; performance.now by default */
  now?: () => number;
}

interface Waiter {
  resolve: (id: string) => void;
  reject: (error: unknown) => void;
}

/** a received answer not yet reached: a range of safe integers, of bigints, or a list */
type Chunk =
  | { kind: 'number'; next: number; end: number }
  | { kind: 'bigint'; next: bigint; end: bigint }
  | { kind: 'list'; ids: string[]; head: number; expiresAt: number };

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;
/** drain rate samples shorter than this are folded into the next */
const RATE_WINDOW_MS = 10;
/** how fast the rate estimate forgets a faster past */
const RATE_DECAY_MS = 1000;
/** hold at least this many round trips of demand, whatever the safe distance */
const MIN_ROUND_TRIPS = 3;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DECIMAL = /^[0-9]{1,20}$/;

/**
 * The cache of one strategy and key. Ids are handed out in the order received; refills are
 * planned from the drain rate and the round-trip time: the cache aims to hold `safeDistanceMs`
 * of demand (and at least a few round trips), capped at `maxHeld`, asked for in requests of a
 * quarter of that (so several are in flight while demand is high, and small ones while it is
 * low). A caller finding the cache empty is a waiter; waiters arriving in one turn share one
 * request, sized to cover them all, so none waits on more than one refill.
 *
 * The hot path (`take` while the current chunk is a numeric range) is two compares, three
 * increments and a String().
 */
export class IdCache {
  // the chunk being handed out, unpacked for the hot path
  private num = 0;
  private numEnd = 0;
  private current: Chunk | undefined;
  private readonly queue: Chunk[] = [];
  private readonly waiters: Waiter[] = [];
  private planQueued = false;
  private closed = false;

  /**
   * A refill was started since the last async hand-out. A caller awaiting ids in a tight loop
   * runs on microtasks only, so the request would not even be written until the cache ran dry;
   * next() hands the id over after one turn of the event loop instead, once per refill.
   */
  refillStarted = false;
  /** ids in hand (current chunk and queue) */
  inHand = 0;
  /** ids asked for in requests still in flight */
  inFlight = 0;
  private requests = 0;
  /** plan again once inHand + inFlight falls to this */
  private refillAt: number;

  private taken = 0;
  private rateSampleAt: number;
  private rateSampleTaken = 0;
  /** ids per ms */
  private rate = 0;
  private rttMs = 0;
  private backoffMs = MIN_BACKOFF_MS;
  private retryAt = 0;
  private readonly now: () => number;

  constructor(
    private readonly refill: Refill,
    private readonly options: IdCacheOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.rateSampleAt = this.now();
    this.refillAt = -1; // nothing planned until first use
  }

  /** one id, or undefined when none is in hand (a refill is then on its way) */
  take(): string | undefined {
    if (this.num < this.numEnd) {
      this.inHand--;
      this.taken++;
      if (this.inHand + this.inFlight <= this.refillAt) this.plan();
      return String(this.num++);
    }
    return this.takeSlow();
  }

  /** one id after the refill in flight (or one started now) */
  wait(): Promise<string> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<string>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.planQueued) {
        // callers arriving in this turn are planned for together: one request for all of them
        this.planQueued = true;
        queueMicrotask(() => {
          this.planQueued = false;
          this.plan();
        });
      }
    });
  }

  close(error: unknown): void {
    this.closed = true;
    this.num = this.numEnd = 0;
    this.current = undefined;
    this.queue.length = 0;
    this.inHand = 0;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private takeSlow(): string | undefined {
    for (;;) {
      const chunk = this.current;
      if (chunk?.kind === 'list' && chunk.head < chunk.ids.length) {
        if (this.options.maxAgeMs === undefined || this.now() <= chunk.expiresAt) return this.issued(chunk.ids[chunk.head++]);
        this.dropStale(chunk);
      } else if (chunk?.kind === 'bigint' && chunk.next < chunk.end) {
        return this.issued((chunk.next++).toString());
      }
      const next = this.queue.shift();
      this.current = next;
      this.num = this.numEnd = 0;
      if (next === undefined) {
        if (!this.planQueued) this.plan(); // else the waiters of this turn are planned together
        return undefined;
      }
      if (next.kind === 'number') {
        this.num = next.next;
        this.numEnd = next.end;
        return this.take();
      }
    }
  }

  private issued(id: string): string {
    this.inHand--;
    this.taken++;
    if (this.inHand + this.inFlight <= this.refillAt) this.plan();
    return id;
  }

  /** time-ordered ids past their age: never handed out */
  private dropStale(chunk: Extract<Chunk, { kind: 'list' }>): void {
    const left = chunk.ids.length - chunk.head;
    chunk.head = chunk.ids.length;
    this.inHand -= left;
    this.options.onDropped?.(left);
  }

  /** how many ids to hold, from the drain rate and round-trip time */
  private target(now: number): number {
    const elapsed = now - this.rateSampleAt;
    if (elapsed >= RATE_WINDOW_MS) {
      const rate = (this.taken - this.rateSampleTaken) / elapsed;
      // grow at once, shrink slowly: a burst must not find the cache short twice
      this.rate = rate >= this.rate ? rate : this.rate + (rate - this.rate) * (1 - Math.exp(-elapsed / RATE_DECAY_MS));
      this.rateSampleAt = now;
      this.rateSampleTaken = this.taken;
    }
    const { safeDistanceMs, maxAgeMs, maxHeld, minBatch } = this.options;
    let horizon = Math.max(safeDistanceMs, MIN_ROUND_TRIPS * this.rttMs);
    // time-ordered ids must be used well within their age bound, or they are wasted
    if (maxAgeMs !== undefined) horizon = Math.min(horizon, maxAgeMs / 2);
    // at least two requests' worth, so a slow caller finds the next batch there before it runs out
    return Math.min(maxHeld, Math.max(2 * minBatch, Math.ceil(this.rate * horizon)));
  }

  /** starts the requests the target and the waiters call for */
  private plan(): void {
    if (this.closed) return;
    const now = this.now();
    const target = this.target(now);
    const { maxBatch, maxInFlight, minBatch } = this.options;
    const batch = Math.min(maxBatch, Math.max(minBatch, Math.ceil(target / maxInFlight)));
    // waiters first: each is covered by ids already asked for, or by a request started now
    let uncovered = this.waiters.length - this.inHand - this.inFlight;
    while (uncovered > 0) {
      const count = Math.min(maxBatch, Math.max(uncovered + batch, minBatch), this.options.maxHeld + uncovered);
      this.request(count, now);
      uncovered -= count;
    }
    // then the background: keep inHand + inFlight near the target
    if (now >= this.retryAt) {
      while (this.requests < maxInFlight && this.inHand + this.inFlight - this.waiters.length + batch <= target) {
        this.request(batch, now);
      }
    }
    this.refillAt = this.requests < maxInFlight ? target - batch : -1;
  }

  private request(count: number, sentAt: number): void {
    this.refillStarted = true;
    this.requests++;
    this.inFlight += count;
    let answer: Promise<RefillAnswer>;
    try {
      answer = this.refill(count);
    } catch (e) {
      answer = Promise.reject(e);
    }
    answer.then(
      (body) => this.received(body, count, sentAt),
      (error) => this.failed(error, count),
    );
  }

  private received(body: RefillAnswer, asked: number, sentAt: number): void {
    this.requests--;
    this.inFlight -= asked;
    if (this.closed) return;
    const now = this.now();
    this.rttMs = this.rttMs === 0 ? now - sentAt : this.rttMs * 0.7 + (now - sentAt) * 0.3;
    this.backoffMs = MIN_BACKOFF_MS;
    this.retryAt = 0;
    try {
      this.append(body, sentAt + (this.options.maxAgeMs ?? 0));
    } catch (e) {
      this.failed(e, 0, true);
      return;
    }
    this.serveWaiters();
    this.plan();
  }

  private append(body: RefillAnswer, expiresAt: number): void {
    if (Array.isArray(body.ranges)) {
      const chunks: Chunk[] = [];
      let count = 0;
      for (const range of body.ranges) {
        if (!Array.isArray(range) || !DECIMAL.test(range[0]) || !DECIMAL.test(range[1])) throw badAnswer('a range is not two decimals');
        const first = BigInt(range[0]);
        const last = BigInt(range[1]);
        if (last < first) throw badAnswer('a range ends before it starts');
        chunks.push(
          last < MAX_SAFE
            ? { kind: 'number', next: Number(first), end: Number(last) + 1 }
            : { kind: 'bigint', next: first, end: last + 1n },
        );
        count += Number(last - first) + 1;
      }
      this.queue.push(...chunks);
      this.inHand += count;
    } else if (Array.isArray(body.ids)) {
      this.queue.push({ kind: 'list', ids: body.ids, head: 0, expiresAt });
      this.inHand += body.ids.length;
    } else {
      throw badAnswer('neither ids nor ranges');
    }
  }

  private serveWaiters(): void {
    let served = 0;
    while (served < this.waiters.length) {
      const id = this.takeQuiet();
      if (id === undefined) break;
      this.waiters[served++].resolve(id);
    }
    this.waiters.splice(0, served);
  }

  /** take without planning a refill per id (serveWaiters plans once afterwards) */
  private takeQuiet(): string | undefined {
    const refillAt = this.refillAt;
    this.refillAt = -1;
    try {
      return this.take();
    } finally {
      this.refillAt = refillAt;
    }
  }

  private failed(error: unknown, asked: number, settled = false): void {
    if (!settled) {
      this.requests--;
      this.inFlight -= asked;
    }
    if (this.closed) return;
    this.retryAt = this.now() + this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    // the waiters this request was to serve hear why; the ones still covered keep waiting
    const uncovered = this.waiters.length - this.inHand - this.inFlight;
    if (uncovered > 0) for (const waiter of this.waiters.splice(0, uncovered)) waiter.reject(error);
  }
}

function badAnswer(why: string): IdClientError {
  return new IdClientError('BAD_ANSWER', `the server's answer is malformed: ${why}`);
}

function closedError(): IdClientError {
  return new IdClientError('CLOSED', 'IdClient: closed');
}
