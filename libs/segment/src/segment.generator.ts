import { Clock, errorForLog, GeneratorHealth, IdGenerator, isIdError, publicError, systemClock } from '@app/core';
import { IdPermutation } from '@app/fpe';
import { isDatabaseTrouble, Rollback, SegmentBuffer } from './segment-buffer';
import { unknownKey } from './segment-sql';
import { SegmentKeyRow, SegmentStore } from './segment-store';

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
  /** how often stored steps are re-read (another instance's PATCH) */
  refreshMs?: number;
  /** how often a halted key looks for the admin skip that resumes it */
  haltPollMs?: number;
  /** told of every successful fetch (metrics) */
  onFetched?: (key: string, ms: number) => void;
  /** FF1 key from ID_SECRET: public keys issue FF1(underlying id) with the key name as tweak */
  secretKey?: Buffer | null;
}

interface KeyInfo {
  buffer: SegmentBuffer;
  /** set for a public key */
  permutation?: IdPermutation;
  /** skip_seq read right after the halt; the key resumes once the table shows a later skip */
  haltSkipSeq?: number;
}

const MAX_MISSES = 10_000;
/** public ids encrypted per turn of the event loop (~10 ms at 2M/s) */
const HIDE_CHUNK = 20_000;
/** readiness lists at most this many keys by name */
const MAX_KEYS_IN_DETAIL = 100;

/**
 * `segment`: one SegmentBuffer per business key of leaf_alloc. Unknown keys are looked up on
 * first use (one query per key at a time); a missing key is remembered for a few seconds so a
 * flood of bad keys costs the database at most one query per key per missTtlMs.
 */
export class SegmentGenerator implements IdGenerator {
  readonly strategy = 'segment';
  private readonly keys = new Map<string, KeyInfo>();
  private readonly loading = new Map<string, Promise<SegmentBuffer>>();
  private readonly misses = new Map<string, number>();
  private readonly clock: Clock;
  private refreshTimer?: NodeJS.Timeout;
  private haltTimer?: NodeJS.Timeout;
  private lastDatabaseError: unknown = null;

  constructor(
    private readonly store: SegmentStore,
    private readonly options: SegmentGeneratorOptions,
  ) {
    this.clock = options.clock ?? systemClock;
  }

  next(key: string, count: number): string[] | Promise<string[]> {
    const info = this.keys.get(key);
    if (info !== undefined) {
      const ids = info.buffer.take(count);
      return info.permutation === undefined ? ids : hide(info.permutation, ids);
    }
    return this.load(key).then(() => this.next(key, count));
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

  /** starts the background refresh of stored steps */
  start(): void {
    this.refreshTimer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 60_000);
    this.refreshTimer.unref();
  }

  close(): void {
    clearInterval(this.refreshTimer);
    clearInterval(this.haltTimer);
    for (const { buffer } of this.keys.values()) buffer.close();
  }

  /** after an admin skip through this instance: the key may resume at once */
  skipped(row: SegmentKeyRow): void {
    const info = this.keys.get(row.key);
    if (info === undefined) return;
    info.buffer.setStoredStep(row.step);
    if (info.buffer.isHalted) {
      info.buffer.resume();
      info.haltSkipSeq = undefined;
      this.options.log.info(`key "${row.key}" resumed after an admin skip (max_id now ${row.maxId})`);
    }
  }

  /** after an admin PATCH through this instance */
  updated(row: SegmentKeyRow): void {
    this.keys.get(row.key)?.buffer.setStoredStep(row.step);
  }

  health(): GeneratorHealth {
    const keys: Record<string, unknown> = {};
    let withIds = 0;
    let failing = 0;
    let listed = 0;
    for (const [key, { buffer, permutation }] of this.keys) {
      if (buffer.idsLeft > 0) withIds++;
      if (isDatabaseTrouble(buffer.lastFetchError)) failing++;
      if (listed++ >= MAX_KEYS_IN_DETAIL) continue;
      const state = buffer.state();
      keys[key] = {
        status: buffer.isHalted || buffer.failing ? 'down' : 'up',
        // readiness is unauthenticated: a public key's ids left would reveal its volume
        ...(permutation === undefined ? { idsLeft: state.idsLeft } : {}),
        ...(state.reason ? { reason: state.reason } : {}),
      };
    }
    const databaseDown = failing > 0 || this.lastDatabaseError !== null;
    // Local trouble only: keys in use, not one id buffered, and the database failing us.
    const ready = !(this.keys.size > 0 && withIds === 0 && databaseDown);
    return {
      ready,
      detail: {
        ...(ready ? {} : { reason: 'no id buffered for any key in use and the database is unavailable' }),
        database: databaseDown
          ? { status: 'down', ...publicError(this.databaseError()) }
          : { status: 'up' },
        keysInUse: this.keys.size,
        keys,
      },
    };
  }

  private databaseError(): unknown {
    for (const { buffer } of this.keys.values()) {
      if (isDatabaseTrouble(buffer.lastFetchError)) return buffer.lastFetchError;
    }
    return this.lastDatabaseError;
  }

  private load(key: string): Promise<SegmentBuffer> {
    const missUntil = this.misses.get(key);
    if (missUntil !== undefined) {
      if (missUntil > this.clock.now()) throw unknownKey(key);
      this.misses.delete(key);
    }
    let loading = this.loading.get(key);
    if (loading === undefined) {
      loading = this.store
        .find(key)
        .then(
          (row) => {
            this.lastDatabaseError = null;
            if (row === null) {
              this.rememberMiss(key);
              throw unknownKey(key);
            }
            return this.keys.get(key)?.buffer ?? this.addKey(row);
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

  private rememberMiss(key: string): void {
    if (this.misses.size >= MAX_MISSES) {
      const now = this.clock.now();
      for (const [k, until] of this.misses) if (until <= now) this.misses.delete(k);
      if (this.misses.size >= MAX_MISSES) this.misses.clear();
    }
    this.misses.set(key, this.clock.now() + (this.options.missTtlMs ?? 5000));
  }

  private addKey(row: SegmentKeyRow): SegmentBuffer {
    const { key } = row;
    const { log } = this.options;
    const buffer = new SegmentBuffer(
      key,
      {
        fetch: async (step) => {
          const maxId = await this.store.fetch(key, step);
          return { start: maxId - BigInt(step), end: maxId };
        },
      },
      {
        preload: this.options.preload,
        waitMs: this.options.waitMs,
        step: row.step,
        stepMax: this.options.stepMax,
        dynamicStep: this.options.dynamicStep,
        clock: this.clock,
        onRollback: (rollback) => this.halted(key, rollback),
        onFetched: (_range, ms) => this.options.onFetched?.(key, ms),
        onFetchError: (e) => {
          if (isIdError(e) && e.code === 'UNKNOWN_KEY') {
            // deleted from the table: forget it, like any missing key
            this.keys.get(key)?.buffer.close();
            this.keys.delete(key);
            this.rememberMiss(key);
          } else {
            log.warn(`segment fetch for key "${key}" failed: ${errorForLog(e)}`);
          }
        },
      },
    );
    this.keys.set(key, { buffer, permutation: row.public ? this.permutationFor(row) : undefined });
    return buffer;
  }

  private halted(key: string, rollback: Rollback): void {
    this.options.log.error(
      `ROLLBACK on key "${key}": the database handed out a range starting at ${rollback.fetchedStart}, below ` +
        `${rollback.watermark}, the end of what this instance already fetched; the database lost writes ` +
        `(failover to a lagging replica or a restore). The key is halted until an admin skips it past ` +
        `every id issued: POST /admin/segments/${key}/skip`,
    );
    const info = this.keys.get(key);
    if (info === undefined) return;
    info.haltSkipSeq = undefined;
    void this.store.find(key).then(
      (row) => {
        if (row !== null && info.haltSkipSeq === undefined) info.haltSkipSeq = row.skipSeq;
      },
      () => undefined,
    );
    if (this.haltTimer === undefined) {
      this.haltTimer = setInterval(() => void this.pollHalted(), this.options.haltPollMs ?? 2000);
      this.haltTimer.unref();
    }
  }

  /** a halted key resumes when the table shows an admin skip made after the halt (by any instance) */
  private async pollHalted(): Promise<void> {
    const halted = [...this.keys].filter(([, info]) => info.buffer.isHalted);
    if (halted.length === 0) {
      clearInterval(this.haltTimer);
      this.haltTimer = undefined;
      return;
    }
    let rows: SegmentKeyRow[];
    try {
      rows = await this.store.findMany(halted.map(([key]) => key));
    } catch {
      return;
    }
    for (const row of rows) {
      const info = this.keys.get(row.key);
      if (info === undefined || !info.buffer.isHalted) continue;
      if (info.haltSkipSeq === undefined) {
        info.haltSkipSeq = row.skipSeq;
      } else if (row.skipSeq > info.haltSkipSeq) {
        this.skipped(row);
      }
    }
  }

  private async refresh(): Promise<void> {
    if (this.keys.size === 0) return;
    try {
      for (const row of await this.store.findMany([...this.keys.keys()])) this.updated(row);
    } catch {
      /* the fetch path reports database trouble */
    }
  }
}

