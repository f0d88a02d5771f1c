import { Clock, errorForLog, GeneratorHealth, IdError, IdGenerator, IdRange, isIdError, publicError, systemClock } from '@app/core';
import { randomUUID } from 'node:crypto';
import { IdPermutation } from '@app/fpe';
import { FetchedRange, IdsTally, isDatabaseTrouble, RangeSource, Rollback, SegmentBuffer, SegmentBufferOptions } from './segment-buffer';
import { ChangeWatch } from './change-watch';
import { FetchBatcher } from './fetch-batch';
import { fetchedRange, TARGET_FRESH_POLLS, unknownKey } from './segment-sql';
import { FetchRequest, SegmentKeyRow, SegmentStore } from './segment-store';
import { BusinessFormat, isPeriodKey, PERIOD_SEPARATOR } from './business-format';
import { createPeriodKey, FormattedKey, notNumeric, PeriodKeyStore } from './business-numbers';

/** FF1 over the ids of a public key; big batches in chunks so the event loop keeps turning */
function hide(permutation: IdPermutation, ids: string[] | Promise<string[]>): string[] | Promise<string[]> {
  if (ids instanceof Promise) return ids.then((list) => hide(permutation, list));
  if (ids.length <= HIDE_CHUNK) return permutation.encryptStrings(ids);
  return (async () => {
    const out: string[] = [];
    for (let from = 0; from < ids.length; from += HIDE_CHUNK) {
      if (from > 0) await new Promise((resolve) => setImmediate(resolve));
      out.push(...permutation.encryptStrings(ids.slice(from, from + HIDE_CHUNK)));
    }
    return out;
  })();
}

/** a public key's readiness reason: what is wrong, without its numbers */
function publicReason(buffer: SegmentBuffer): string {
  if (buffer.isHalted) return 'halted by the rollback guard: the database rolled back below ids already handed out; an admin must skip it (GET /admin/segments)';
  return 'the last fetch failed';
}

export interface SegmentLog {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
}

export interface SegmentGeneratorOptions {
  preload: number;
  waitMs: number;
  stepMax: number;
  dynamicStep: boolean;
  clock?: Clock;
  log: SegmentLog;
  /** how long a missing key is remembered as missing */
  missTtlMs?: number;
  /** the poll period (SEGMENT_POLL_MS): skips, steps, public flags and max_id of the keys in use */
  pollMs: number;
  /**
   * the longest one statement may take with its retries (statementBudgetMs): with pollMs, how
   * late a poll may normally answer
   */
  statementBudgetMs: number;
  /** requests that may wait per key (SEGMENT_MAX_WAITERS) */
  maxWaiters?: number;
  /** names this process in the published skip targets; random by default */
  instanceId?: string;
  /** told of every successful fetch (metrics) */
  onFetched?: (key: string, ms: number) => void;
  /** FF1 key from ID_SECRET: public keys issue FF1(underlying id) with the key name as tweak */
  secretKey?: Buffer | null;
  /** the clock business-number formats pick their period by (FORMAT_CLOCK_OFFSET_MS); default `clock` */
  periodClock?: Clock;
}

interface KeyInfo {
  buffer: SegmentBuffer;
  /** set for a public key */
  permutation?: IdPermutation;
  /** the skip counter last seen; a change means an admin skip: drop everything held */
  skipSeq: number;
  /** skips made through this instance: a poll sent before one must not judge the counter */
  localSkips: number;
  /** the high-water mark last read */
  highWater: bigint;
  /** set when the table's public flag no longer matches what this instance issues */
  refused?: IdError;
  /** a key with a business-number format: its numbers are strings made by this */
  formatted?: FormattedKey;
  /** the row its lookup read, until the first fetch (which may take its range by compare-and-set against it) */
  seen?: FetchRequest['seen'];
}

/** what /metrics shows of a formatted key: how much of its current period's {seq:N} is used */
export interface FormatFill {
  key: string;
  /** numbers of the period handed out by any instance (the period key's max_id - 1 as last seen) */
  used: bigint;
  /** 10^N - 1 */
  capacity: bigint;
}

/**
 * Totals over every key in use and the keys that must be named (metrics, readiness): kept as keys
 * change, not counted by walking them, so a scrape or a readiness probe costs the same at 100,000
 * keys as at 10.
 */
export interface KeySummary {
  inUse: number;
  /** ids buffered over every key but the public ones */
  idsLeft: number;
  /** ids buffered over the public keys */
  publicIdsLeft: number;
  /** keys halted by the rollback guard */
  halted: string[];
  /** keys whose last fetch failed, not halted */
  failing: string[];
  /** keys whose fetches reached past half their id space (2^62) */
  pastHalfSpace: string[];
}

/** half of a segment key's id space (2^63): keys past it are named by metrics whatever their rate */
const HALF_SPACE = 1n << 62n;

export interface KeyInUse {
  buffer: SegmentBuffer;
  public: boolean;
}

const MAX_MISSES = 10_000;
/** keys read per poll statement */
const POLL_CHUNK = 1000;
/** unknown keys looked up per statement, and the most waiting for a lookup at once */
const LOOKUP_BATCH = 500;
const MAX_LOOKUPS_WAITING = 10_000;
/** public ids encrypted per turn of the event loop (~10 ms at 2M/s) */
const HIDE_CHUNK = 20_000;
/** readiness lists at most this many keys by name */
const MAX_KEYS_IN_DETAIL = 100;

/**
 * `segment`: one SegmentBuffer per business key of leaf_alloc. Unknown keys are looked up on
 * first use, batched (one statement for all keys asked for meanwhile, one statement in flight,
 * a bounded queue), and a missing key is remembered for a few seconds: a flood of bad keys
 * cannot crowd the pool.
 *
 * One poll every pollMs reads the keys in use (one statement per 1,000 keys): an admin skip made
 * through any instance drops everything this instance holds of the key; a step changed by PATCH
 * takes effect; a public flag that changed stops the key; the max_id read counts into the
 * rollback guard; high-water marks follow; halted keys publish the smallest skip target this
 * instance accepts and learn the largest any instance requires.
 */
export class SegmentGenerator implements IdGenerator {
  readonly strategy = 'segment';
  private readonly keys = new Map<string, KeyInfo>();
  private readonly loading = new Map<string, Promise<SegmentBuffer>>();
  private readonly lookups = new Map<string, { resolve: (row: SegmentKeyRow | null) => void; reject: (e: unknown) => void }[]>();
  private lookupInFlight = false;
  private readonly misses = new Map<string, number>();
  /** marks of keys let go of, not yet known to be in the database (leaveMark) */
  private readonly pendingMarks = new Map<string, bigint>();
  private readonly clock: Clock;
  private pollTimer?: NodeJS.Timeout;
  private polling = false;
  private lastPollOkAt: number;
  private lastPollError: unknown = null;
  private lastDatabaseError: unknown = null;
  /** the change row as last judged: whether the next poll must read the keys */
  private readonly changes = new ChangeWatch();
  /** keys added since the last poll: read on the next one even when nothing changed */
  private unpolled = new Set<string>();
  /** keys this process fetched since the last poll: their marks, when the keys are not read back */
  private fetchedSincePoll = new Set<string>();
  /** keys halted here: they publish their targets on every poll */
  private readonly haltedKeys = new Set<string>();
  /**
   * keys whose last fetch failed, keys with a format, keys past half their space: each a superset
   * (checked when read), so nothing walks every key to find them
   */
  private readonly failingKeys = new Set<string>();
  private readonly formattedKeys = new Set<string>();
  private readonly pastHalfSpaceKeys = new Set<string>();
  /** ids buffered over the keys in use (SegmentBuffer keeps them), public keys apart */
  private readonly plainIds: IdsTally = { idsLeft: 0 };
  private readonly publicIds: IdsTally = { idsLeft: 0 };
  private readonly cost = { polls: 0, keyReads: 0, rowsRead: 0 };
  readonly instanceId: string;
  private readonly periodKeys: PeriodKeyStore;
  /** first fetches of keys new here, many keys to one statement (absent: one statement per key) */
  private readonly firstFetches?: FetchBatcher;

  constructor(
    private readonly store: SegmentStore,
    private readonly options: SegmentGeneratorOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.lastPollOkAt = this.clock.now();
    this.instanceId = options.instanceId ?? randomUUID();
    const fetchMany = store.fetchMany?.bind(store);
    if (fetchMany !== undefined) this.firstFetches = new FetchBatcher(fetchMany);
    this.periodKeys = {
      createPeriodKey: (key, step) => createPeriodKey(store, key, step, BigInt(options.stepMax)),
      newestPeriodKey: (base) => store.newestPeriodKey?.(base) ?? Promise.resolve(null),
    };
  }

  /** per formatted key in use here, how full its current period is (metrics) */
  formatFill(): FormatFill[] {
    const fill: FormatFill[] = [];
    for (const key of this.formattedKeys) {
      const formatted = this.keys.get(key)?.formatted;
      if (formatted === undefined) continue;
      const period = this.keys.get(formatted.currentPeriodKey);
      let reached = 0n;
      if (period !== undefined) {
        const end = period.buffer.highestEnd;
        reached = period.highWater > end ? period.highWater : end;
      }
      const first = formatted.format.resets ? 1n : 0n;
      // numbers fetched past {seq:N} were never issued: the period is full, not more than full
      const used = reached > first ? reached - 1n : 0n;
      const capacity = formatted.format.maxSeq;
      fill.push({ key, used: used > capacity ? capacity : used, capacity });
    }
    return fill;
  }

  /** a key's format as this instance issues it, if any */
  formatOf(key: string): BusinessFormat | undefined {
    return this.keys.get(key)?.formatted?.format;
  }

  /**
   * An old period's key: its buffer released, its mark left at what was reached. A halted one is
   * kept, halted, publishing its smallest target until an admin skips it: the period being over
   * does not make its ids safe to hand out again (a clock stepped back returns to it), and a skip
   * below the target must stay refused (simulation seed 5275: the listing named 211, the key was
   * dropped at the rollover, a skip to 195 was accepted).
   */
  private forget(key: string): void {
    const info = this.keys.get(key);
    if (info === undefined || info.buffer.isHalted) return;
    this.leaveMark(key, info.buffer.reachedEnd);
    info.buffer.close();
    this.keys.delete(key);
    this.unpolled.delete(key);
    this.fetchedSincePoll.delete(key);
    this.dropNotable(key);
  }

  private dropNotable(key: string): void {
    this.haltedKeys.delete(key);
    this.failingKeys.delete(key);
    this.formattedKeys.delete(key);
    this.pastHalfSpaceKeys.delete(key);
  }

  keySummary(): KeySummary {
    const halted: string[] = [];
    for (const key of this.haltedKeys) if (this.keys.get(key)?.buffer.isHalted) halted.push(key);
    const failing: string[] = [];
    for (const key of this.failingKeys) {
      const buffer = this.keys.get(key)?.buffer;
      if (buffer?.failing !== true) this.failingKeys.delete(key);
      else if (!buffer.isHalted) failing.push(key);
    }
    const pastHalfSpace: string[] = [];
    for (const key of this.pastHalfSpaceKeys) {
      const buffer = this.keys.get(key)?.buffer;
      if (buffer === undefined || buffer.highestEnd < HALF_SPACE) this.pastHalfSpaceKeys.delete(key);
      else pastHalfSpace.push(key);
    }
    return { inUse: this.keys.size, idsLeft: this.plainIds.idsLeft, publicIdsLeft: this.publicIds.idsLeft, halted, failing, pastHalfSpace };
  }

  /**
   * The high-water mark of a key this instance lets go of: everything it fetched or saw drawn.
   * Kept until the database has it, so a period key made again (business-numbers.ts) starts
   * above it: a mark still on its way would let the new key start below ids already issued.
   */
  private leaveMark(key: string, highWater: bigint): void {
    if (highWater <= 0n) return;
    const pending = this.pendingMarks.get(key);
    if (pending === undefined || highWater > pending) this.pendingMarks.set(key, highWater);
    void this.markLeft(key).catch(() => undefined);
  }

  /** resolves once the mark this instance left for `key` (if any) is in the database; sends it again if it failed */
  private markLeft(key: string): Promise<void> {
    const highWater = this.pendingMarks.get(key);
    if (highWater === undefined) return Promise.resolve();
    return this.store.raiseMarks([{ key, highWater }]).then(() => {
      if (this.pendingMarks.get(key) === highWater) this.pendingMarks.delete(key);
    });
  }

  private formattedKey(key: string, row: SegmentKeyRow): FormattedKey | undefined {
    if (!row.format) return undefined;
    return new FormattedKey(key, BusinessFormat.fromStored(row.format), row.format, row.step, {
      clock: this.options.periodClock ?? this.clock,
      store: this.periodKeys,
      source: {
        take: (k, n) => this.next(k, n),
        forget: (k) => this.forget(k),
        markLeft: (k) => this.markLeft(k),
        made: (k) => void this.misses.delete(k),
      },
      warn: (m) => this.options.log.warn(m),
    });
  }

  /**
   * After this long every instance that can read the database has seen a skip, or says it may
   * not have ("skip status unknown"): an answered poll is stamped with when it was sent, so an
   * instance with no answered poll sent after the skip is, by then, this long past its last one.
   * The length itself (a period and one statement's whole budget) only keeps a healthy instance
   * from crying wolf.
   */
  get appliedByAllWithinMs(): number {
    return this.options.pollMs + this.options.statementBudgetMs;
  }

  /** no answered poll sent within appliedByAllWithinMs: skips made meanwhile may be unseen */
  get skipStatusUnknown(): boolean {
    return this.keys.size > 0 && this.clock.now() - this.lastPollOkAt >= this.appliedByAllWithinMs;
  }

  /** what readiness detail and the admin API show of the poll */
  pollStatus(): { status: 'up' | 'down'; lastOkAgoMs: number; message?: string } {
    const ago = this.clock.now() - this.lastPollOkAt;
    if (!this.skipStatusUnknown) return { status: 'up', lastOkAgoMs: ago };
    return {
      status: 'down',
      lastOkAgoMs: ago,
      message: `skip status unknown: the poll has not reached the database for ${ago} ms; skips made meanwhile may not be honoured here`,
    };
  }

  next(key: string, count: number): string[] | Promise<string[]> {
    const info = this.keys.get(key);
    if (info !== undefined) {
      if (info.refused !== undefined) throw info.refused;
      if (info.formatted !== undefined) return info.formatted.next(count, (n) => info.buffer.take(n));
      if (info.permutation === undefined) return info.buffer.take(count);
      let ids: string[] | Promise<string[]>;
      try {
        ids = info.buffer.take(count);
      } catch (e) {
        throw this.publicSafe(key, e);
      }
      if (ids instanceof Promise) ids = ids.catch((e) => Promise.reject(this.publicSafe(key, e)));
      return hide(info.permutation, ids);
    }
    return this.load(key).then(() => this.next(key, count));
  }

  /**
   * A halted public key's refusal without the numbers the buffer's message carries (the watermark,
   * the fetched start, the skip target): they are its position in its id space, and this answer
   * goes to unauthenticated callers. The admin API names the target.
   */
  private publicSafe(key: string, e: unknown): unknown {
    if (!isIdError(e) || e.code !== 'SEGMENT_UNAVAILABLE' || !this.keys.get(key)?.buffer.isHalted) return e;
    return new IdError(
      'SEGMENT_UNAVAILABLE',
      `key "${key}" halted: the database rolled back below ids already handed out; an admin must skip it past every id issued (GET /admin/segments names the smallest target)`,
      { retryAfter: 5 },
    );
  }

  /**
   * A key's buffer and whether it is public, the key looked up on first use as next() does: for
   * go-id-alloc's routes, which answer differently for public keys.
   */
  use(key: string): KeyInUse | Promise<KeyInUse> {
    const info = this.keys.get(key);
    if (info?.formatted !== undefined) throw notNumeric(key, "go-id-alloc's routes");
    if (info !== undefined) return { buffer: info.buffer, public: info.permutation !== undefined };
    return this.load(key).then(() => this.use(key));
  }

  nextRanges(key: string, count: number): IdRange[] | Promise<IdRange[]> {
    const info = this.keys.get(key);
    if (info === undefined) return this.load(key).then(() => this.nextRanges(key, count));
    if (info.refused !== undefined) throw info.refused;
    if (info.formatted !== undefined) throw notNumeric(key, 'format=ranges');
    if (info.permutation !== undefined) {
      throw new IdError('INVALID_FORMAT', `format=ranges: key "${key}" is public, its ids are not consecutive; ask format=ids`);
    }
    return info.buffer.takeRanges(count);
  }

  /** the underlying id of a public key's id (admin reveal) */
  permutationFor(row: SegmentKeyRow): IdPermutation {
    const existing = this.keys.get(row.key)?.permutation;
    if (existing) return existing;
    if (!this.options.secretKey) throw new Error('public keys need ID_SECRET');
    return new IdPermutation(this.options.secretKey, row.key);
  }

  /** keys in use here and their buffers */
  inUse(): IterableIterator<[string, { buffer: SegmentBuffer }]> {
    return this.keys.entries();
  }

  /** a public key (FF1 ids): its count, ids left and position are served only behind a token */
  isPublic(key: string): boolean {
    return this.keys.get(key)?.permutation !== undefined;
  }

  /** the buffer of a key in use here, if any */
  buffer(key: string): SegmentBuffer | undefined {
    return this.keys.get(key)?.buffer;
  }

  /** starts the poll */
  start(): void {
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs);
    this.pollTimer.unref();
  }

  close(): void {
    clearInterval(this.pollTimer);
    const shuttingDown = new IdError('SEGMENT_UNAVAILABLE', 'shutting down'); // one for every key: 100,000 stack captures took a second
    for (const { buffer } of this.keys.values()) buffer.close(shuttingDown);
    this.rejectLookups(shuttingDown);
  }

  /**
   * Rows this process read outside its poll (the admin routes' listings and lookups). What the
   * process has seen the table hold counts into each buffer's watermark as a poll's reading does,
   * so a fetch sent afterwards that starts below it halts. Not judged against what was fetched
   * (the poll does that, with what it held when it sent): a reading only raises the floor
   * (simulation seed 15515: an operator's listing through this instance was its only sight of a
   * range another instance drew just before the database lost it).
   */
  sawRows(rows: readonly SegmentKeyRow[]): void {
    for (const row of rows) this.keys.get(row.key)?.buffer.observe('', BigInt(row.maxId));
  }

  /** an admin skip made through this instance: drop everything held of the key */
  skipped(row: SegmentKeyRow): void {
    const info = this.keys.get(row.key);
    if (info === undefined) return;
    info.localSkips++;
    this.applySkip(row.key, info, row);
  }

  /**
   * A skip counter that differs from the last one seen means a skip, whichever way it moved: a
   * database that lost writes can take the counter back, and a later skip then brings it to a
   * value seen before (comparing with > would miss that skip).
   */
  private applySkip(key: string, info: KeyInfo, row: SegmentKeyRow): void {
    info.skipSeq = row.skipSeq;
    const wasHalted = info.buffer.isHalted;
    info.buffer.setStoredStep(row.step);
    info.buffer.resume();
    info.buffer.observe('', BigInt(row.maxId));
    this.options.log.info(
      `key "${key}" skipped to max_id ${row.maxId}: dropped every range held below it${wasHalted ? '; resumed' : ''}`,
    );
  }

  /** per key halted anywhere: the largest smallest-target fresh in the database, with this instance's own */
  /** period keys halted on some instance (fresh published targets): listings show these */
  haltedPeriodKeys(): Promise<string[]> {
    return this.store.haltedPeriodKeys(this.targetFreshMs);
  }

  async requiredTargets(keys: string[]): Promise<Map<string, bigint>> {
    const required = await this.store.requiredTargets(keys, this.targetFreshMs);
    for (const key of keys) {
      const buffer = this.keys.get(key)?.buffer;
      if (!buffer?.isHalted) continue;
      const own = buffer.smallestTarget();
      const published = required.get(key);
      if (published === undefined || own > published) required.set(key, own);
    }
    return required;
  }

  private get targetFreshMs(): number {
    return TARGET_FRESH_POLLS * this.options.pollMs + this.options.statementBudgetMs;
  }

  /** after an admin PATCH through this instance */
  updated(row: SegmentKeyRow): void {
    const info = this.keys.get(row.key);
    if (info === undefined) return;
    info.buffer.setStoredStep(row.step);
    // a format set or removed through this instance applies here at once (others on their next poll)
    this.setFormat(row.key, info, row);
  }

  health(): GeneratorHealth {
    const keys: Record<string, unknown> = {};
    let listed = 0;
    for (const [key, { buffer, permutation }] of this.keys) {
      if (listed++ >= MAX_KEYS_IN_DETAIL) break;
      const state = buffer.state();
      keys[key] = {
        status: buffer.isHalted || buffer.failing ? 'down' : 'up',
        // readiness is unauthenticated: a public key's ids left would reveal its volume
        ...(permutation === undefined ? { idsLeft: state.idsLeft } : {}),
        ...(state.reason ? { reason: permutation === undefined ? state.reason : publicReason(buffer) } : {}),
      };
    }
    const databaseDown = this.databaseError() !== null;
    // Local trouble only: keys in use, not one id buffered, and the database failing us.
    const ready = !(this.keys.size > 0 && this.plainIds.idsLeft + this.publicIds.idsLeft === 0 && databaseDown);
    const poll = this.pollStatus();
    return {
      ready,
      detail: {
        ...(ready ? {} : { reason: 'no id buffered for any key in use and the database is unavailable' }),
        database: databaseDown
          ? { status: 'down', ...publicError(this.databaseError()) }
          : { status: 'up' },
        skips: poll.status === 'up' ? { status: 'up' } : { status: 'down', message: poll.message },
        keysInUse: this.keys.size,
        keys,
      },
    };
  }

  /** a key's fetch failing for the database (the keys whose last fetch failed, not every key), or a lookup's */
  private databaseError(): unknown {
    for (const key of this.failingKeys) {
      const buffer = this.keys.get(key)?.buffer;
      if (buffer !== undefined && isDatabaseTrouble(buffer.lastFetchError)) return buffer.lastFetchError;
    }
    return this.lastDatabaseError;
  }

  private load(key: string): Promise<SegmentBuffer> {
    this.store.table.checkKey(key);
    const missUntil = this.misses.get(key);
    if (missUntil !== undefined) {
      if (missUntil > this.clock.now()) throw unknownKey(key);
      this.misses.delete(key);
    }
    let loading = this.loading.get(key);
    if (loading === undefined) {
      loading = this.lookup(key)
        .then(
          (row) => {
            this.lastDatabaseError = null;
            if (row === null) {
              this.rememberMiss(key);
              throw unknownKey(key);
            }
            return this.keys.get(key)?.buffer ?? this.addKey(key, row);
          },
          (e) => {
            if (isIdError(e) && e.code === 'DATABASE_UNAVAILABLE') this.lastDatabaseError = e;
            throw e;
          },
        )
        .finally(() => this.loading.delete(key));
      this.loading.set(key, loading);
    }
    return loading;
  }

  /** one key's row, looked up together with every key asked for meanwhile */
  private lookup(key: string): Promise<SegmentKeyRow | null> {
    if (this.lookups.size >= MAX_LOOKUPS_WAITING && !this.lookups.has(key)) {
      return Promise.reject(new IdError('SEGMENT_UNAVAILABLE', 'too many unknown keys being looked up at once; try again'));
    }
    return new Promise((resolve, reject) => {
      const waiting = this.lookups.get(key);
      if (waiting === undefined) this.lookups.set(key, [{ resolve, reject }]);
      else waiting.push({ resolve, reject });
      if (!this.lookupInFlight) {
        this.lookupInFlight = true;
        setImmediate(() => void this.runLookups());
      }
    });
  }

  private async runLookups(): Promise<void> {
    while (this.lookups.size > 0) {
      const batch = [...this.lookups.keys()].slice(0, LOOKUP_BATCH);
      const callers = batch.map((key) => {
        const waiting = this.lookups.get(key)!;
        this.lookups.delete(key);
        return waiting;
      });
      try {
        const rows = new Map((await this.store.findMany(batch)).map((r) => [r.key, r]));
        batch.forEach((key, i) => callers[i].forEach((c) => c.resolve(rows.get(key) ?? null)));
      } catch (e) {
        callers.forEach((waiting) => waiting.forEach((c) => c.reject(e)));
      }
    }
    this.lookupInFlight = false;
  }

  private rejectLookups(error: unknown): void {
    for (const waiting of this.lookups.values()) waiting.forEach((c) => c.reject(error));
    this.lookups.clear();
  }

  private rememberMiss(key: string): void {
    if (this.misses.size >= MAX_MISSES) {
      const now = this.clock.now();
      for (const [k, until] of this.misses) if (until <= now) this.misses.delete(k);
      if (this.misses.size >= MAX_MISSES) this.misses.clear();
    }
    this.misses.set(key, this.clock.now() + (this.options.missTtlMs ?? 5000));
  }

  /**
   * What every key's buffer shares: one source and one set of hooks, told which buffer (no
   * closures per key: 100,000 idle keys must cost under 1 KB each). A key's step and ceiling
   * are the buffer's own.
   */
  private readonly bufferSource: RangeSource = {
    // a key's first fetch joins the batch of every key new meanwhile (first use of many keys);
    // refills of keys in use go alone, never queued behind first use
    fetch: async (step: number, buffer: SegmentBuffer): Promise<FetchedRange> => {
      const key = buffer.key;
      if (this.firstFetches === undefined || buffer.hasFetched) return fetchedRange(await this.store.fetch(key, step), step);
      const info = this.keys.get(key);
      const seen = info?.buffer === buffer ? info.seen : undefined;
      if (info !== undefined) info.seen = undefined; // one try: a retry fetches under the lock
      return fetchedRange(await this.firstFetches.fetch(key, step, seen), step);
    },
  };
  private bufferDefaults?: SegmentBufferOptions;
  private publicBufferDefaults?: SegmentBufferOptions;

  /** one options object for every plain key, one for every public key (their ids counted apart) */
  private sharedBufferOptions(publicKey: boolean): SegmentBufferOptions {
    if (publicKey) return (this.publicBufferDefaults ??= { ...this.sharedBufferOptions(false), tally: this.publicIds });
    return (this.bufferDefaults ??= {
      preload: this.options.preload,
      waitMs: this.options.waitMs,
      step: 1, // each buffer's own (addKey)
      stepMax: this.options.stepMax,
      dynamicStep: this.options.dynamicStep,
      maxWaiters: this.options.maxWaiters,
      clock: this.clock,
      tally: this.plainIds,
      onRollback: (rollback, buffer) => this.halted(buffer.key, rollback),
      onFetched: (range, ms, buffer) => {
        this.fetchedSincePoll.add(buffer.key);
        this.failingKeys.delete(buffer.key);
        if (range.end >= HALF_SPACE) this.pastHalfSpaceKeys.add(buffer.key);
        this.options.onFetched?.(buffer.key, ms);
      },
      onFetchError: (e, buffer) => {
        const key = buffer.key;
        this.failingKeys.add(key);
        if (isIdError(e) && e.code === 'UNKNOWN_KEY') {
          // deleted from the table (by hand, or lost with a restore): forget it, like any missing
          // key, leaving its mark at what we reached
          this.leaveMark(key, this.keys.get(key)?.buffer.reachedEnd ?? 0n);
          this.keys.get(key)?.buffer.close(e); // those waiting hear UNKNOWN_KEY, not "shutting down"
          this.keys.delete(key);
          this.dropNotable(key);
          this.rememberMiss(key);
        } else {
          this.options.log.warn(`segment fetch for key "${key}" failed: ${errorForLog(e)}`);
        }
      },
    });
  }

  /** under the key as asked for: the buffer is found by that name, whatever the row spells */
  private addKey(key: string, row: SegmentKeyRow): SegmentBuffer {
    const buffer = new SegmentBuffer(key, this.bufferSource, this.sharedBufferOptions(row.public), { step: row.step, stepMax: this.stepMaxFor(key, row) });
    const info: KeyInfo = {
      buffer,
      permutation: row.public ? this.permutationFor(row) : undefined,
      skipSeq: row.skipSeq,
      localSkips: 0,
      highWater: row.highWater === '0' ? 0n : BigInt(row.highWater), // one shared 0n for the keys never skipped or re-created
      seen: row.metaRow === undefined ? undefined : { maxId: row.maxId, metaRow: row.metaRow },
    };
    this.setFormat(key, info, row);
    // the row read here is a sight of the table like a poll's: a first fetch sent after it that
    // starts below it means the database lost writes (simulation seed 7342: an instance started
    // just before a restore looked a key up at 916 and, with no watermark, fetched from 906)
    buffer.observe('', BigInt(row.maxId));
    this.keys.set(key, info);
    this.unpolled.add(key);
    return buffer;
  }

  /**
   * The dynamic step's ceiling: SEGMENT_STEP_MAX, but for a formatted key (or a period's key) at
   * most 1% of its {seq:N} numbers, so one fetch cannot spend a period's numbers that other
   * instances (or the next fetch after a restart) would need.
   */
  private stepMaxFor(key: string, row: SegmentKeyRow): number {
    const base = isPeriodKey(key) ? this.keys.get(key.slice(0, key.indexOf(PERIOD_SEPARATOR)))?.formatted?.format : undefined;
    let format = base;
    if (format === undefined && row.format) {
      try {
        format = BusinessFormat.fromStored(row.format);
      } catch {
        format = undefined;
      }
    }
    if (format === undefined) return this.options.stepMax;
    const share = format.maxSeq / 100n;
    const cap = share < BigInt(this.options.stepMax) ? Number(share) : this.options.stepMax;
    return Math.max(row.step, cap);
  }

  /** a format read from the table (at load, or changed under a running instance: taken from the next request on) */
  private setFormat(key: string, info: KeyInfo, row: SegmentKeyRow): void {
    const stored = row.format ?? null;
    if ((info.formatted?.stored ?? null) === stored) {
      info.formatted?.setStep(row.step);
      return;
    }
    if (stored !== null && row.public) {
      info.refused = new IdError('SEGMENT_UNAVAILABLE', `key "${key}" is public and has a format: FF1 ids are not business numbers; remove one`);
      return;
    }
    try {
      info.formatted = this.formattedKey(key, row);
      if (info.formatted === undefined) this.formattedKeys.delete(key);
      else this.formattedKeys.add(key);
    } catch (e) {
      info.refused = new IdError('SEGMENT_UNAVAILABLE', `key "${key}": its stored format cannot be read; set it again with PATCH /admin/segments/${key}`);
      this.options.log.error(`key "${key}": stored format unreadable: ${errorForLog(e)}`);
    }
  }

  private halted(key: string, rollback: Rollback): void {
    this.haltedKeys.add(key);
    const how = rollback.observed
      ? `the poll read max_id ${rollback.fetchedStart}, below ${rollback.watermark} that this instance had already fetched`
      : `the database handed out a range starting at ${rollback.fetchedStart}, below ${rollback.watermark}, ` +
        'what this instance had fetched or seen the table reach';
    const target = this.keys.get(key)?.buffer.smallestTarget() ?? 1n;
    this.options.log.error(
      `ROLLBACK on key "${key}": ${how}; the database lost writes (failover to a lagging replica or a restore). ` +
        `The key is halted until an admin skips it past every id issued: POST /admin/segments/${key}/skip ` +
        `{"to": N} with N >= ${target} here (GET /admin/segments shows what every instance requires)`,
    );
  }

  /** what the poll has cost: polls, the polls that read keys, and rows read (for metrics and the bench) */
  get pollCost(): { polls: number; keyReads: number; rowsRead: number } {
    return { ...this.cost };
  }

  /**
   * The poll. First one small read: the change row (id_segment_change), which every write that
   * matters bumps in its own transaction, fetches included. When it moved by exactly this
   * process's own fetches (ChangeWatch), only keys added since the last poll are read; otherwise
   * every key in use is, as before: another instance's fetch, an admin change, a write in doubt,
   * or a row taken back by a database that lost writes. Halted keys publish their targets every
   * period either way.
   *
   * What was fetched is read before a key statement is sent: a max_id read below it means the
   * table went back; a max_id above it guards only fetches sent after the answer arrived.
   */
  async poll(): Promise<void> {
    if (this.polling || this.keys.size === 0) {
      if (this.keys.size === 0) this.lastPollOkAt = this.clock.now();
      return;
    }
    this.polling = true;
    const sentAt = this.clock.now();
    const added = this.unpolled;
    const fetched = this.fetchedSincePoll;
    this.unpolled = new Set();
    this.fetchedSincePoll = new Set();
    try {
      this.cost.polls++;
      const ownAtSend = this.store.ownFetches();
      const read = await this.store.readChanges();
      this.cost.rowsRead++;
      const unchanged = this.changes.unchanged(read, ownAtSend);
      const entries = unchanged ? this.entriesOf(added) : [...this.keys];
      if (!unchanged) this.cost.keyReads++;
      const halted = new Set<string>();
      for (let from = 0; from < entries.length; from += POLL_CHUNK) {
        await this.pollChunk(entries.slice(from, from + POLL_CHUNK), halted);
      }
      // this process's own fetches, not read back: their marks as the key read would raise them
      if (unchanged) await this.raiseOwnMarks(fetched);
      for (const key of [...this.formattedKeys]) await this.keys.get(key)?.formatted?.watch();
      for (const key of this.haltedKeys) {
        if (this.keys.get(key)?.buffer.isHalted) halted.add(key);
        else this.haltedKeys.delete(key);
      }
      await this.publishHalted([...halted]);
      this.changes.accept(read, ownAtSend);
      // its readings are at least as fresh as when it was sent: a skip committed before then is seen
      this.lastPollOkAt = sentAt;
      this.lastPollError = null;
    } catch (e) {
      for (const key of added) this.unpolled.add(key);
      for (const key of fetched) this.fetchedSincePoll.add(key);
      if (this.lastPollError === null) {
        this.options.log.warn(`segment poll failed: ${errorForLog(e)}`);
      }
      this.lastPollError = e;
    } finally {
      this.polling = false;
    }
  }

  private entriesOf(keys: Iterable<string>): [string, KeyInfo][] {
    const entries: [string, KeyInfo][] = [];
    for (const key of keys) {
      const info = this.keys.get(key);
      if (info !== undefined) entries.push([key, info]);
    }
    return entries;
  }

  private async raiseOwnMarks(keys: Set<string>): Promise<void> {
    const marks: { key: string; highWater: bigint }[] = [];
    for (const [key, info] of this.entriesOf(keys)) {
      const end = info.buffer.highestEnd;
      if (end > info.highWater) {
        info.highWater = end;
        marks.push({ key, highWater: end });
      }
    }
    await this.store.raiseMarks(marks);
  }

  private async publishHalted(halted: string[]): Promise<void> {
    if (halted.length === 0) return;
    await this.store.publishTargets(
      this.instanceId,
      halted.map((key) => ({ key, target: this.keys.get(key)!.buffer.smallestTarget() })),
    );
    const required = await this.store.requiredTargets(halted, this.targetFreshMs);
    for (const key of halted) this.keys.get(key)?.buffer.setClusterTarget(required.get(key) ?? null);
  }

  private async pollChunk(entries: [string, KeyInfo][], halted: Set<string>): Promise<void> {
    const fetchedAtSend = entries.map(([, info]) => info.buffer.fetchedEnd());
    const stepVersionAtSend = entries.map(([, info]) => info.buffer.storedStepVersion);
    const localSkipsAtSend = entries.map(([, info]) => info.localSkips);
    const rows = new Map((await this.store.findMany(entries.map(([key]) => key))).map((r) => [r.key, r]));
    this.cost.rowsRead += rows.size;
    const marks: { key: string; highWater: bigint }[] = [];
    entries.forEach(([key, info], i) => {
      if (this.keys.get(key) !== info) return; // forgotten or re-added meanwhile
      const row = rows.get(key);
      if (row === undefined) return; // deleted: the next fetch says UNKNOWN_KEY and forgets it
      const maxId = BigInt(row.maxId);
      // A skip restarts the guard: what was fetched before it no longer counts against the table.
      // But a skip moves max_id ahead of every range fetched before the read, and the skip route
      // takes a halted key past the smallest target it publishes; a counter that changed with
      // max_id below that is a database that lost writes, a skip among them (simulation seed
      // 3001): judged as a rollback, not as a skip. The next change (the runbook's skip) resumes.
      const counterMoved = row.skipSeq !== info.skipSeq && info.localSkips === localSkipsAtSend[i];
      const floor = info.buffer.isHalted ? info.buffer.smallestTarget() : fetchedAtSend[i];
      const skippedNow = counterMoved && !(floor !== undefined && maxId < floor);
      if (skippedNow) this.applySkip(key, info, row);
      else if (counterMoved) info.skipSeq = row.skipSeq;
      info.buffer.observe('', maxId, skippedNow ? undefined : fetchedAtSend[i]);
      // a PATCH through this instance while the poll was out is newer than what the poll read
      if (info.buffer.storedStepVersion === stepVersionAtSend[i]) info.buffer.setStoredStep(row.step);
      this.setFormat(key, info, row);
      if (row.public !== (info.permutation !== undefined) && info.refused === undefined) {
        info.refused = new IdError(
          'SEGMENT_UNAVAILABLE',
          `key "${key}" changed its public flag in the table; this instance will not issue for it until restarted`,
        );
        this.options.log.error(`key "${key}": the public flag changed under a running instance; refusing to issue for it`);
      }
      const highWater = BigInt(row.highWater);
      const reached = maxId > highWater ? maxId : highWater;
      if (reached > info.highWater) {
        info.highWater = reached;
        if (maxId > highWater) marks.push({ key, highWater: maxId });
      }
      if (info.buffer.isHalted) halted.add(key);
    });
    await this.store.raiseMarks(marks);
  }
}
