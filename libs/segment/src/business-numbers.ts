import { Clock, databaseUnavailable, IdError, isIdError } from '@app/core';
import { BusinessFormat, periodKey } from './business-format';
import type { SegmentStore } from './segment-store';
import { BelowMark } from './segment-sql';

/** Where a formatted key's numbers come from: the plain keys' buffers (SegmentGenerator). */
export interface PeriodSource {
  /** underlying numbers of a plain key, looked up on first use */
  take(key: string, count: number): string[] | Promise<string[]>;
  /** drops what this instance holds of a key (an old period's buffer) */
  forget(key: string): void;
  /** resolves once the high-water mark this instance left for a key it let go of is in the database */
  markLeft(key: string): Promise<void>;
  /** a key made (again) in the database: a miss remembered for it no longer holds */
  made(key: string): void;
}

/** The statements a period's own key needs (one small function per dialect, see period-key-sql.ts). */
export interface PeriodKeyStore {
  /** creates the period's key starting at 1; a key that exists already (another instance made it) is success */
  createPeriodKey(key: string, step: number): Promise<void>;
  /** the greatest period key of `base` in the table (`base~YYYYMMDD`), or null */
  newestPeriodKey(base: string): Promise<string | null>;
}

/** how long before the end of its period (by its own clock) an instance looks for a newer period key each poll */
export const BOUNDARY_WATCH_MS = 10 * 60_000;

/**
 * One formatted key on this instance: which period it issues for and that period's own key.
 *
 * Each period's numbers come from their own key (`invoices~20261207`), a plain segment key
 * created in the database on first use by whichever instance gets there first, so buffers,
 * the poll, the rollback guard and halts apply to it unchanged: a number is never issued twice,
 * whatever the clocks say, because two periods never share a sequence.
 *
 * The boundary rule (docs/business-numbers.md): an instance's period never goes back (a clock
 * stepped back keeps the newest period it used), and an instance adopts the period after its own
 * as soon as its poll finds that period's key in the database (some instance began it): after one
 * instance issued a number of the new period, the others issue old-period numbers for at most one
 * poll period (plus a statement's budget) more; a process looks once on a key's first use too, so a
 * restart with a slow clock does not go back. Only the next period is adopted this way: a
 * period key further ahead (an instance whose clock is wrong by a day) is logged, not followed.
 */
export class FormattedKey {
  /** the newest period this instance issued for or adopted ('' with reset none) */
  private current = '';
  /** period keys known to exist (created here or found) */
  private readonly made = new Set<string>();
  private readonly making = new Map<string, Promise<void>>();
  /** old periods' keys to release on the next poll (a request taken just before the switch may still wait on one) */
  private retiring: string[] = [];
  private warnedAhead = '';
  /** the first use looks for a newer period key once: a process restarted with a slow clock must not go back a period */
  private primed = false;
  private priming?: Promise<void>;

  constructor(
    readonly key: string,
    readonly format: BusinessFormat,
    /** the JSON text it was made from: a poll that reads another text replaces it */
    readonly stored: string,
    private step: number,
    private readonly deps: { clock: Clock; store: PeriodKeyStore; source: PeriodSource; warn(message: string): void },
  ) {}

  setStep(step: number): void {
    this.step = step;
  }

  /** the period issued for now: this instance's clock in the format's zone, never behind the newest used */
  period(): string {
    const local = this.format.period(this.deps.clock.now());
    if (local > this.current) this.moveTo(local);
    return this.current;
  }

  /** the period's own key ('' period: the key itself) */
  periodKey(): string {
    return periodKey(this.key, this.period());
  }

  private moveTo(period: string): void {
    if (this.current !== '') this.retiring.push(periodKey(this.key, this.current));
    this.current = period;
  }

  /**
   * count formatted numbers, all or none: `own` takes from the key's own buffer (reset none);
   * with a reset they come from the period's key, made on first use.
   */
  next(count: number, own: (count: number) => string[] | Promise<string[]>): string[] | Promise<string[]> {
    if (!this.format.resets) return this.render(this.period(), own(count));
    if (!this.primed) return (this.priming ??= this.prime()).then(() => this.next(count, own));
    const period = this.period();
    const key = periodKey(this.key, period);
    if (!this.made.has(key)) return this.make(key).then(() => this.takeFrom(period, key, count, true));
    return this.takeFrom(period, key, count, true);
  }

  /**
   * A period key that vanished (lost with a restore or an asynchronous failover; deleted by hand)
   * is made again once, above the high-water mark every instance that let go of it left (its
   * fetches and what its polls saw drawn): see createPeriodKey.
   */
  private takeFrom(period: string, key: string, count: number, again: boolean): string[] | Promise<string[]> {
    const remake = (e: unknown): Promise<string[]> => {
      if (!again || !isIdError(e) || e.code !== 'UNKNOWN_KEY') throw e;
      this.made.delete(key);
      return this.make(key).then(() => this.takeFrom(period, key, count, false) as string[] | Promise<string[]>);
    };
    let ids: string[] | Promise<string[]>;
    try {
      ids = this.deps.source.take(key, count);
    } catch (e) {
      return remake(e);
    }
    return ids instanceof Promise ? this.render(period, ids.catch(remake)) : this.render(period, ids);
  }

  private make(key: string): Promise<void> {
    let making = this.making.get(key);
    if (making === undefined) {
      making = this.deps.source
        .markLeft(key)
        .then(() => this.deps.store.createPeriodKey(key, this.step))
        .then(() => {
          this.made.add(key);
          this.deps.source.made(key);
        })
        .finally(() => this.making.delete(key));
      this.making.set(key, making);
    }
    return making;
  }

  private render(period: string, ids: string[] | Promise<string[]>): string[] | Promise<string[]> {
    if (ids instanceof Promise) return ids.then((list) => this.render(period, list) as string[]);
    const out = new Array<string>(ids.length);
    // formatted before any is answered: one too wide fails the whole batch
    for (let i = 0; i < ids.length; i++) out[i] = this.format.format(period, ids[i], this.key);
    return out;
  }

  private async prime(): Promise<void> {
    try {
      this.period();
      this.adopt(await this.deps.store.newestPeriodKey(this.key));
      this.primed = true;
    } finally {
      this.priming = undefined;
    }
  }

  /** the newest period key in the table: followed when it is the period after this instance's */
  private adopt(newest: string | null): void {
    if (newest === null) return;
    const seen = newest.slice(this.key.length + 1);
    if (seen <= this.current) return;
    if (seen === this.format.successor(this.current)) {
      this.made.add(newest);
      this.moveTo(seen);
    } else if (this.warnedAhead !== seen) {
      this.warnedAhead = seen;
      this.deps.warn(
        `key "${this.key}": period key ${newest} exists, more than one period ahead of this instance's ${this.current}: ` +
          'an instance with a clock far ahead? Not followed (check the clocks)',
      );
    }
  }

  /**
   * Once per poll: releases old periods' buffers, and near the end of its own period (by its clock)
   * looks for the next period's key another instance made, and adopts it.
   */
  async watch(): Promise<void> {
    const retired = this.retiring;
    this.retiring = [];
    for (const key of retired) {
      this.made.delete(key);
      this.deps.source.forget(key);
    }
    if (!this.format.resets || !this.primed) return;
    const now = this.deps.clock.now();
    if (this.format.periodAt(now + BOUNDARY_WATCH_MS) === this.current) return;
    this.adopt(await this.deps.store.newestPeriodKey(this.key));
  }

  /** the current period's key, for metrics: which buffer's numbers count toward the width */
  get currentPeriodKey(): string {
    return periodKey(this.key, this.current === '' ? this.period() : this.current);
  }
}

/** a formatted key's numbers on a route that answers only numbers */
export function notNumeric(key: string, route: string): IdError {
  return new IdError('INVALID_FORMAT', `key "${key}" has a business-number format: its ids are strings, which ${route} cannot carry; use GET /ids/segment`);
}

/**
 * A period's own key, made with the store's ordinary create (its high-water rule included: a
 * period key deleted by hand is never made again below what it reached). Instances starting a
 * period together race here: KEY_EXISTS is what the loser wanted, and so is a deadlock (MySQL's
 * gap locks on the meta row) once the winner's key can be read.
 */
export async function createPeriodKey(store: SegmentStore, key: string, step: number, markMargin: bigint): Promise<void> {
  let startId = 1n;
  for (let attempt = 1; ; attempt++) {
    try {
      await store.create({ key, startId, step, description: null, public: false, markMargin });
      return;
    } catch (e) {
      if (isIdError(e) && e.code === 'KEY_EXISTS') return;
      // made before and lost (or deleted): above its high-water mark + margin, never again from 1
      if (e instanceof BelowMark && attempt < 3) {
        startId = e.smallest;
        continue;
      }
      if (isIdError(e) && e.code === 'DATABASE_UNAVAILABLE') throw e;
      if (isIdError(e)) {
        throw new IdError('SEGMENT_UNAVAILABLE', `the period key ${key} cannot be made: ${e.message}`, { retryAfter: 5, cause: e });
      }
      if ((await store.find(key)) !== null) return;
      if (attempt >= 3) throw databaseUnavailable(e);
    }
  }
}
