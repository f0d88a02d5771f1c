import { Clock, errorForLog, publicError } from '@app/core';
import { IssuePermit, PermitSource } from './snowflake-generator';

/** Who takes a worker id: unique per process start, so a restart is a new holder. */
export interface Claimant {
  instanceId: string;
  host: string;
  pid: number;
}

export interface AcquiredWorker {
  workerId: number;
  /** the reservation left by the previous holder (Unix ms of its id clock); issue only above it */
  reservedUntil: number;
  /**
   * the row still named a holder whose heartbeat had lapsed (not released cleanly): that holder
   * may be alive and issuing past what the row shows (a database that lost writes)
   */
  takenOver: boolean;
}

export interface WorkerHolder {
  workerId: number;
  instanceId: string | null;
  host: string | null;
  pid: number | null;
  /** age of the last heartbeat by the database's clock; null when never held */
  heartbeatAgeMs: number | null;
  reservedUntil: number;
}

/**
 * The `worker_node` table. Every method is one statement (acquire and claim are each one
 * conditional UPDATE; their reads after are of the row just taken). A lease is free when it has
 * no holder or its heartbeat is older than leaseMs by the DATABASE's clock, so instances with
 * skewed clocks agree on it. reserved_until is in the holders' id clock and never goes down.
 */
export interface WorkerLeaseStore {
  /** how many rows exist in [from, to] */
  countRows(from: number, to: number): Promise<number>;
  /** inserts the missing rows of [from, to] (free, reserved_until 0); existing rows stay as they are */
  seed(from: number, to: number): Promise<void>;
  /**
   * takes one free id in [from, to]: never-held or cleanly released rows first, then lapsed ones
   * (takenOver); within each, first those whose reservation ended before nowMs (one of them at
   * random), else the one whose reservation ends soonest. reserved_until is left as it was.
   */
  acquire(from: number, to: number, claimant: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null>;
  /** takes this id if it is free or already ours (a static or ordinal id); takenOver as for acquire */
  claim(workerId: number, claimant: Claimant, leaseMs: number): Promise<AcquiredWorker | null>;
  /** the row, to say who holds it */
  inspect(workerId: number): Promise<WorkerHolder | null>;
  /**
   * compare-and-set on the instance id: heartbeat to now, reserved_until to
   * max(reserved_until, untilMs). false when the row is no longer ours.
   */
  renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean>;
  /**
   * compare-and-set on the instance id: gives the id up with reserved_until = untilMs (what this
   * holder found at acquire or issued, whichever is higher), so the next holder starts at once
   */
  release(workerId: number, instanceId: string, untilMs: number): Promise<void>;
  /** for metrics: free ids in [from, to] by the database's clock, and that clock (Unix ms) */
  observe?(from: number, to: number, leaseMs: number): Promise<{ free: number; dbNowMs: number }>;
  /**
   * The database server taking lease writes now, as the table records it: when it first took
   * them (its clock, Unix ms), its clock now, and whether another server took them before it (a
   * failover or a switch of node). Absent where the database cannot move (embedded SQLite).
   */
  writerSince?(slackMs: number): Promise<WriterRecord>;
}

export interface WriterRecord {
  sinceMs: number;
  dbNowMs: number;
  /** another server recorded taking lease writes before this one */
  moved: boolean;
}

/** id_meta's "lease writer <server>" rows as read: when each server was recorded taking lease writes (database clock, Unix ms) */
export interface LeaseWriterRow {
  name: string;
  sinceMs: number;
}

/** the record standing for earlier writers whose own records were lost (its value: their oldest acquisition) */
export const UNRECORDED_WRITERS = 'lease writer unrecorded';

export interface LeaseWriters {
  /** this server's record name */
  me: string;
  /** every "lease writer %" record read (this server's included, when the read found it) */
  writers: readonly LeaseWriterRow[];
  dbNowMs: number;
  /** the oldest acquired_at among worker_node rows (database clock, Unix ms), null when none was ever taken */
  oldestAcquiredMs: number | null;
  /** how long an acquisition may precede its own writer record */
  slackMs: number;
}

/**
 * Which server takes lease writes now and since when (`record`), from the writer records and the
 * oldest acquisition. Three cases make the move "now" (a full reserve + skew from here):
 * - this server's record is missing from the read (lost between the insert and the read);
 * - it is older than another's: it came back to the writer role after that other (a failback:
 *   primary, failover to a replica, then back), and its first record says nothing of the move
 *   back; it is written again (`again`);
 * - it is the only record, yet worker_node holds acquisitions older than it (by more than the
 *   statements between an acquisition and its record take): whoever took them
 *   recorded its server on a copy that lost it (an asynchronous failover soon after the first
 *   start); `unrecorded` is then the value of the UNRECORDED_WRITERS record to insert, so later
 *   acquisitions see a move too (and not again once the window is over).
 * (Simulation, snowflake worlds: seeds 5, 379, 963 and 1240 repeated ids before these rules.)
 */
export function judgeLeaseWriters(w: LeaseWriters): { record: WriterRecord; again: boolean; unrecorded: number | null } {
  const { me, writers, dbNowMs, oldestAcquiredMs } = w;
  const mine = writers.find((r) => r.name === me);
  const others = writers.filter((r) => r.name !== me);
  const now = { sinceMs: dbNowMs, dbNowMs, moved: true };
  if (mine === undefined) return { record: { ...now, moved: others.length > 0 }, again: false, unrecorded: null };
  if (others.length === 0 && oldestAcquiredMs !== null && oldestAcquiredMs < mine.sinceMs - w.slackMs) {
    return { record: now, again: true, unrecorded: oldestAcquiredMs };
  }
  if (others.some((r) => r.sinceMs > mine.sinceMs)) return { record: now, again: true, unrecorded: null };
  return { record: { sinceMs: mine.sinceMs, dbNowMs, moved: others.length > 0 }, again: false, unrecorded: null };
}

/**
 * Records `name` as a lease writer in id_meta with the database clock, the first time
 * (`insertIfAbsent` binds the name; its value is `nowMs`, an SQL expression of the clock in Unix
 * ms), reads every writer record with the clock and the oldest acquisition (`oldestAcquiredMs`,
 * an SQL expression over worker_node), and writes what judgeLeaseWriters asks for.
 */
export async function recordLeaseWriter(
  run: (sql: string, values?: unknown[], options?: { retryUnknown?: boolean }) => Promise<any>,
  name: string,
  sql: { insertIfAbsent: string; nowMs: string; oldestAcquiredMs: string },
  slackMs: number,
): Promise<WriterRecord> {
  await run(sql.insertIfAbsent, [name], { retryUnknown: true });
  const rows: { name: string | null; value: string; now_ms: string; oldest_ms: string | null }[] = await run(
    `SELECT m.name, m.value, t.now_ms, t.oldest_ms
       FROM (SELECT ${sql.nowMs} AS now_ms, (${sql.oldestAcquiredMs}) AS oldest_ms) t
       LEFT JOIN id_meta m ON m.name LIKE 'lease writer %'`,
  );
  const judged = judgeLeaseWriters({
    me: name,
    writers: rows.filter((r) => r.name !== null).map((r) => ({ name: r.name!, sinceMs: Number(r.value) })),
    dbNowMs: Number(rows[0].now_ms),
    oldestAcquiredMs: rows[0].oldest_ms === null ? null : Number(rows[0].oldest_ms),
    slackMs,
  });
  const options = { retryUnknown: true };
  if (judged.unrecorded !== null) {
    await run(sql.insertIfAbsent, [UNRECORDED_WRITERS], options);
    await run('UPDATE id_meta SET value = ? WHERE name = ?', [String(judged.unrecorded), UNRECORDED_WRITERS], options);
  }
  // the clock as read, so the record says exactly the since answered
  if (judged.again) await run('UPDATE id_meta SET value = ? WHERE name = ?', [String(judged.record.sinceMs), name], options);
  return judged.record;
}

/** a worker_node row as both dialects select it (worker_id, instance_id, host, pid, reserved_until, age_ms) */
export function toWorkerHolder(r: Record<string, any>): WorkerHolder {
  return {
    workerId: Number(r.worker_id),
    instanceId: r.instance_id,
    host: r.host,
    pid: r.pid === null ? null : Number(r.pid),
    heartbeatAgeMs: r.age_ms === null ? null : Number(r.age_ms),
    reservedUntil: Number(r.reserved_until),
  };
}

/** steps between two observations of the pool and the database clock (metrics only) */
const OBSERVE_EVERY = 10;

export type WorkerIdSetting =
  | { mode: 'lease'; from: number; to: number }
  | { mode: 'static' | 'ordinal'; workerId: number };

export interface LeaseLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface WorkerLeaseOptions {
  store: WorkerLeaseStore;
  clock: Clock;
  setting: WorkerIdSetting;
  claimant: Claimant;
  /** SNOWFLAKE_LEASE_MS: heartbeat age (by the database's clock) after which another instance may take the id */
  leaseMs: number;
  /**
   * SNOWFLAKE_RESERVE_MS: how far ahead of the clock each renewal reserves; the holder keeps
   * issuing up to its reservation through a database stall. Defaults to leaseMs.
   */
  reserveMs?: number;
  /** SNOWFLAKE_MAX_SKEW_MS: the largest clock difference between instances that stays unique */
  maxSkewMs?: number;

  /** SNOWFLAKE_RENEW_MS */
  renewMs: number;
  /** SNOWFLAKE_START_WAIT_MS: longest wait for the clock to pass a reservation, then onFatal */
  startWaitMs: number;
  /** called once when waiting for the clock ran out; the row is released first */
  onFatal: (message: string) => void;
  logger?: LeaseLogger;
  /** rows seeded at a time in lease mode */
  seedBlock?: number;
  /** real elapsed ms, for the start wait bound */
  monotonic?: () => number;
}

type Held = {
  workerId: number;
  /** issue only above it: the previous holder's reservation, on a takeover the bound on what it may have issued */
  afterMs: number;
  /** committed reservation: never issue above it */
  reservedUntil: number;
  generation: number;
  acquiredAt: number;
  lastRenewAt: number;
  renewError?: string;
};

type Waiting = { kind: 'starting' | 'pool' | 'holder' | 'database' | 'lost' | 'stopped'; reason: string };

export interface LeaseStatus {
  held: boolean;
  usable: boolean;
  workerId: number | null;
  mode: WorkerIdSetting['mode'];
  reason?: string;
  reservedUntil?: string;
  afterReservation?: string;
  lastRenewMsAgo?: number;
  /** free worker ids in the pool, last seen */
  poolFree?: number;
  /** this clock minus the database's, last seen (half the round trip allowed for) */
  clockOffsetMs?: number;
}

const silent: LeaseLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A worker id leased from `worker_node`, with a time reservation (DESIGN.md, README "High
 * availability"):
 * - the holder issues no timestamp beyond reserved_until, which every renewal moves to
 *   clock + reserveMs; it stops (no permit) renewMs/2 before the committed reservation runs out,
 *   so it rides out a database stall shorter than the reservation;
 * - another instance may take the id once the heartbeat is leaseMs old; it issues only above
 *   max(reserved_until, its clock at takeover + reserveMs + maxSkewMs): a database that lost
 *   writes can show an older reservation than the live holder committed, but that holder's
 *   reservation was never more than reserveMs ahead of a clock at most maxSkewMs ahead of ours;
 * - a row released cleanly (or never held) needs no such wait: the release wrote
 *   max(the reservation found at acquire, the highest timestamp issued), so acquisition prefers
 *   those rows, and a rolling restart of a static id starts at once;
 * - whoever holds the id next waits (no permit) until its clock passes that bound: at most
 *   startWaitMs, then onFatal;
 * - all ids taken: wait and retry each renewMs; a static or ordinal id held by a live instance:
 *   wait, saying who holds it;
 * - a renewal that finds the row taken by another instance drops the lease at once and looks
 *   for another id.
 * tick() does one step; start() runs the first and then ticks in the background.
 */
export class WorkerLease implements PermitSource {
  private readonly store: WorkerLeaseStore;
  private readonly clock: Clock;
  private readonly logger: LeaseLogger;
  private readonly marginMs: number;
  private readonly reserveMs: number;
  private readonly maxSkewMs: number;
  private readonly seedBlock: number;
  private readonly monotonic: () => number;

  private held?: Held;
  private current?: IssuePermit;
  private waiting: Waiting = { kind: 'starting', reason: 'starting: no worker id yet' };
  private generation = 0;
  private seededTo: number;
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private stopped = false;
  private fatal = false;
  private clockWaitSince?: number;
  private lastLoggedWait = '';
  private renewals = 0;
  /** renewals between two records of the server taking lease writes: three per reservation */
  private readonly recordWriterEvery: number;
  /**
   * how long an acquisition may precede its writer record: the statements between them, each
   * bounded well within a renewal period (judgeLeaseWriters)
   */
  private get recordSlackMs(): number {
    return 2 * this.options.renewMs;
  }

  constructor(private readonly options: WorkerLeaseOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger ?? silent;
    this.marginMs = Math.floor(options.renewMs / 2);
    this.reserveMs = options.reserveMs ?? options.leaseMs;
    this.maxSkewMs = options.maxSkewMs ?? 0;
    this.seedBlock = options.seedBlock ?? 1024;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.seededTo = options.setting.mode === 'lease' ? options.setting.from - 1 : -1;
    this.recordWriterEvery = Math.max(1, Math.floor(this.reserveMs / (3 * options.renewMs)));
  }

  // ---- PermitSource, read on every id request: no I/O, no allocation ----

  permit(nowMs: number): IssuePermit | undefined {
    const p = this.current;
    if (p === undefined || nowMs <= p.afterMs || nowMs > p.untilMs) return undefined;
    return p;
  }

  reason(nowMs: number): string {
    const h = this.held;
    if (this.stopped) return 'shutting down: the worker id was released';
    if (h === undefined) return this.waiting.reason;
    if (nowMs <= h.afterMs) {
      return `worker id ${h.workerId}: waiting for the clock to pass the previous holder's reservation (${new Date(h.afterMs).toISOString()}, ${h.afterMs - nowMs + 1} ms to go)`;
    }
    if (nowMs > h.reservedUntil - this.marginMs) {
      return `worker id ${h.workerId}: lease not renewed since ${nowMs - h.lastRenewAt} ms (${h.renewError ?? 'no answer'}); reserved only up to ${new Date(h.reservedUntil).toISOString()}`;
    }
    return `worker id ${h.workerId} held`;
  }

  get workerId(): number | null {
    return this.held?.workerId ?? null;
  }

  /** the generator whose highest issued timestamp a clean release writes (it permits from this lease) */
  issuedBy(generator: { readonly lastTimestamp: number }): void {
    this.highestIssued = () => generator.lastTimestamp;
  }
  private highestIssued: () => number = () => -1;

  status(nowMs: number): LeaseStatus {
    const h = this.held;
    const usable = this.permit(nowMs) !== undefined;
    return {
      held: h !== undefined,
      usable,
      workerId: h?.workerId ?? null,
      mode: this.options.setting.mode,
      ...(usable ? {} : { reason: this.reason(nowMs) }),
      ...(h
        ? {
            reservedUntil: new Date(h.reservedUntil).toISOString(),
            afterReservation: new Date(h.afterMs).toISOString(),
            lastRenewMsAgo: nowMs - h.lastRenewAt,
          }
        : {}),
      ...(this.observed ?? {}),
    };
  }

  private observed?: { poolFree: number; clockOffsetMs: number };
  private steps = 0;

  /** metrics only: never in the way of a renewal, never fatal */
  private async observe(): Promise<void> {
    const { store, setting, leaseMs } = this.options;
    if (store.observe === undefined || this.steps++ % OBSERVE_EVERY !== 0) return;
    const [from, to] = setting.mode === 'lease' ? [setting.from, setting.to] : [setting.workerId, setting.workerId];
    try {
      const before = this.clock.now();
      const { free, dbNowMs } = await store.observe(from, to, leaseMs);
      const after = this.clock.now();
      this.observed = { poolFree: free, clockOffsetMs: Math.round((before + after) / 2 - dbNowMs) };
    } catch {
      /* the renewal path reports database trouble */
    }
  }

  // ---- lifecycle ----

  /** First step now (so a quick start is ready at once), then a step every renewMs. */
  async start(): Promise<void> {
    await this.step();
    this.schedule();
  }

  /** Stops issuing at once, then gives the id up keeping its reservation. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.current = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight?.catch(() => undefined);
    await this.releaseHeld();
    this.waiting = { kind: 'stopped', reason: 'shutting down: the worker id was released' };
  }

  /** One step: acquire when not held, else renew. Never throws. */
  tick(): Promise<void> {
    return this.step();
  }

  private step(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const run = (async () => {
      if (this.stopped || this.fatal) return;
      try {
        if (this.held === undefined) await this.acquire();
        else await this.renew();
        await this.observe();
      } catch (e) {
        this.logger.error(`worker lease step failed: ${(e as Error).message}`);
      }
    })();
    this.inFlight = run.finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private schedule(): void {
    if (this.stopped || this.fatal) return;
    const h = this.held;
    let delay = this.options.renewMs;
    if (h === undefined && this.waiting.kind === 'lost') delay = 0;
    else if (h !== undefined) {
      const now = this.clock.now();
      if (now <= h.afterMs) delay = Math.min(delay, h.afterMs - now + 1);
    }
    this.timer = setTimeout(() => {
      void this.step().then(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  // ---- acquire ----

  private async acquire(): Promise<void> {
    const { setting, claimant, leaseMs } = this.options;
    let got: AcquiredWorker | null;
    try {
      got = setting.mode === 'lease' ? await this.acquireFromPool(setting.from, setting.to) : await this.claimStatic(setting.workerId);
    } catch (e) {
      this.wait('database', 'cannot take a worker id: the database does not answer', errorForLog(e));
      return;
    }
    if (got === null) {
      // the rows this process seeded may be gone (a failover that lost their insert): nothing to
      // take would then look held for good; the next try counts them again and seeds what is missing
      this.seededTo = setting.mode === 'lease' ? setting.from - 1 : -1;
      if (setting.mode === 'lease') {
        this.wait(
          'pool',
          `all ${setting.to - setting.from + 1} worker ids of SNOWFLAKE_WORKER_IDS=${setting.from}-${setting.to} are held by live instances; waiting for one to free up (a lease lapses ${leaseMs} ms after its last heartbeat)`,
        );
      } else {
        const row = await this.store.inspect(setting.workerId).catch(() => null);
        // readiness is unauthenticated: the holder's identity (host, pid) goes to the log only
        const who = row?.instanceId ? `another instance (heartbeat ${row.heartbeatAgeMs ?? '?'} ms ago)` : 'another instance';
        this.wait(
          'holder',
          `${setting.mode} worker id ${setting.workerId} is held by ${who}; two instances with the same worker id would repeat ids, so this one waits until that lease lapses (${leaseMs} ms without a heartbeat) and its reservation${row ? ` (${new Date(row.reservedUntil).toISOString()})` : ''} passes`,
          row?.instanceId ? `holder: instance ${row.instanceId}, host ${row.host ?? '?'}, pid ${row.pid ?? '?'}` : undefined,
        );
      }
      return;
    }
    const now = this.clock.now();
    const lostHolderBound = got.takenOver ? now + this.reserveMs + this.maxSkewMs : await this.movedWriterBound(now);
    const afterMs = Math.max(got.reservedUntil, lostHolderBound);
    this.generation += 1;
    this.held = {
      workerId: got.workerId,
      afterMs,
      reservedUntil: got.reservedUntil,
      generation: this.generation,
      acquiredAt: now,
      lastRenewAt: now,
    };
    this.clockWaitSince = undefined;
    this.logger.log(
      got.takenOver
        ? `took over worker id ${got.workerId} (${setting.mode}) as ${claimant.instanceId} from a holder whose lease lapsed; issuing only above ${new Date(afterMs).toISOString()} (its reservation ${new Date(got.reservedUntil).toISOString()}, or this clock + SNOWFLAKE_RESERVE_MS + SNOWFLAKE_MAX_SKEW_MS, in case the database lost its last renewals)`
        : got.reservedUntil > 0
          ? `took worker id ${got.workerId} (${setting.mode}) as ${claimant.instanceId}; issuing only above the previous reservation ${new Date(got.reservedUntil).toISOString()}`
          : // a row never reserved (a new database, or holders that issued nothing): no earlier time to stay above
            `took worker id ${got.workerId} (${setting.mode}) as ${claimant.instanceId}; no ids issued under it before`,
    );
    await this.renew();
  }

  /**
   * A row that looks free may not be: after a failover to a copy that lost the last writes, a
   * holder's acquisition and renewals can be missing while that holder still issues on its
   * reservation (up to reserveMs ahead of a clock at most maxSkewMs ahead of ours) from the moment
   * the writes were lost. So for reserveMs + maxSkewMs after the database server taking lease
   * writes changed, an acquisition issues only above that bound; a start on the same server as
   * before (every ordinary start and deploy) waits for nothing. Returns the bound in this
   * clock (0: none).
   */
  private async movedWriterBound(now: number): Promise<number> {
    const { store } = this;
    if (store.writerSince === undefined) return 0;
    let record: WriterRecord;
    try {
      record = await store.writerSince(this.recordSlackMs);
    } catch (e) {
      // cannot tell whether the database moved: assume it just did
      this.logger.warn(`cannot read which database server takes lease writes (${errorForLog(e)}); issuing only after a full reservation`);
      return now + this.reserveMs + this.maxSkewMs;
    }
    if (!record.moved) return 0;
    const movedAt = now - (record.dbNowMs - record.sinceMs);
    const bound = movedAt + this.reserveMs + this.maxSkewMs;
    if (bound > now) {
      this.logger.warn(
        `the database server taking lease writes changed ${record.dbNowMs - record.sinceMs} ms ago (a failover?): a holder whose acquisition it lost may still issue, so issuing only above ${new Date(bound).toISOString()}`,
      );
    }
    return bound > now ? bound : 0;
  }

  private async acquireFromPool(from: number, to: number): Promise<AcquiredWorker | null> {
    const now = this.clock.now();
    if (this.seededTo < from) await this.seedNext(to);
    for (;;) {
      const got = await this.store.acquire(from, this.seededTo, this.options.claimant, now, this.options.leaseMs);
      if (got !== null || this.seededTo >= to) return got;
      await this.seedNext(to); // this block is all taken: open the next one
    }
  }

  /** Rows are created a block at a time, so a pool of 2^20 ids does not mean 2^20 rows. */
  private async seedNext(to: number): Promise<void> {
    const start = this.seededTo + 1;
    const end = Math.min(to, start + this.seedBlock - 1);
    if ((await this.store.countRows(start, end)) < end - start + 1) await this.store.seed(start, end);
    this.seededTo = end;
  }

  private async claimStatic(workerId: number): Promise<AcquiredWorker | null> {
    if (this.seededTo < workerId) {
      if ((await this.store.countRows(workerId, workerId)) === 0) await this.store.seed(workerId, workerId);
      this.seededTo = workerId;
    }
    return this.store.claim(workerId, this.options.claimant, this.options.leaseMs);
  }

  /** `reason` is shown in readiness (unauthenticated); `logDetail` (addresses, identities) only logged */
  private wait(kind: Waiting['kind'], reason: string, logDetail?: string): void {
    this.waiting = { kind, reason };
    if (reason !== this.lastLoggedWait) {
      this.lastLoggedWait = reason;
      this.logger.warn(`not ready: ${reason}${logDetail ? ` (${logDetail})` : ''}`);
    }
  }

  // ---- renew ----

  private async renew(): Promise<void> {
    const h = this.held;
    if (h === undefined) return;
    const { claimant, leaseMs } = this.options;
    const now = this.clock.now();
    const proposed = now + this.reserveMs;
    let ours: boolean;
    try {
      ours = await this.store.renew(h.workerId, claimant.instanceId, proposed);
    } catch (e) {
      if (this.held !== h) return;
      const message = publicError(e).message;
      if (h.renewError === undefined) {
        this.logger.warn(
          `worker id ${h.workerId}: renewal failed (${errorForLog(e)}); issuing stops at ${new Date(h.reservedUntil - this.marginMs).toISOString()} unless a renewal gets through`,
        );
      }
      h.renewError = message;
      this.publish(h);
      return;
    }
    if (this.held !== h || this.stopped) return;
    if (!ours) {
      this.logger.error(
        `worker id ${h.workerId}: the lease was taken by another instance (it lapsed: no heartbeat for ${leaseMs} ms by the database's clock); stopped issuing, looking for another id`,
      );
      this.held = undefined;
      this.current = undefined;
      this.wait('lost', `worker id ${h.workerId} was lost to another instance; taking another`);
      return;
    }
    if (h.renewError !== undefined) this.logger.log(`worker id ${h.workerId}: renewals get through again`);
    h.renewError = undefined;
    h.reservedUntil = Math.max(h.reservedUntil, proposed);
    h.lastRenewAt = now;
    this.publish(h);
    await this.checkClockWait(h);
    if (++this.renewals % this.recordWriterEvery === 0) await this.recordWriter();
  }

  /**
   * Holders record the server taking their renewals a few times per reservation, not only
   * acquisitions: a server's record then dates from soon after it took writes, so a failback to
   * an earlier primary that lost the last of them still finds the other server's record newer
   * than its own (judgeLeaseWriters) unless it lost that server's whole time as primary.
   */
  private async recordWriter(): Promise<void> {
    try {
      await this.store.writerSince?.(this.recordSlackMs);
    } catch {
      /* the next acquisition that cannot read the record waits a full reservation */
    }
  }

  /** A new permit object whenever its figures change; none past the margin. */
  private publish(h: Held): void {
    const untilMs = h.reservedUntil - this.marginMs;
    const p = this.current;
    if (p && p.generation === h.generation && p.untilMs === untilMs && p.afterMs === h.afterMs) return;
    this.current = { workerId: h.workerId, afterMs: h.afterMs, untilMs, generation: h.generation };
  }

  private async checkClockWait(h: Held): Promise<void> {
    const now = this.clock.now();
    if (now > h.afterMs) {
      if (this.clockWaitSince !== undefined) {
        this.logger.log(`worker id ${h.workerId}: the clock passed the previous reservation; issuing`);
        this.clockWaitSince = undefined;
      }
      return;
    }
    if (this.clockWaitSince === undefined) {
      this.clockWaitSince = this.monotonic();
      this.logger.warn(
        `not ready: worker id ${h.workerId} was reserved up to ${new Date(h.afterMs).toISOString()}, ${h.afterMs - now} ms ahead of this clock; waiting for the clock to pass it (at most SNOWFLAKE_START_WAIT_MS=${this.options.startWaitMs})`,
      );
    }
    if (this.monotonic() - this.clockWaitSince < this.options.startWaitMs) return;
    this.fatal = true;
    this.current = undefined;
    await this.releaseHeld();
    this.options.onFatal(
      `snowflake: the clock is ${h.afterMs - now} ms behind the reservation of worker id ${h.workerId} (reserved up to ${new Date(h.afterMs).toISOString()}, clock at ${new Date(now).toISOString()}); ` +
        `waited SNOWFLAKE_START_WAIT_MS=${this.options.startWaitMs} ms for it to pass. Issuing now could repeat ids: fix the clock (NTP) and start again.`,
    );
  }

  private async releaseHeld(): Promise<void> {
    const h = this.held;
    if (h === undefined) return;
    this.held = undefined;
    this.current = undefined;
    // issuing has stopped (no permit): nothing above this is or will be issued under this id
    const until = Math.max(h.afterMs, this.highestIssued());
    try {
      await this.store.release(h.workerId, this.options.claimant.instanceId, until);
      // nothing issued and nothing reserved before: a time would read as 1970-01-01, which looks like a bug
      this.logger.log(
        until > 0
          ? `released worker id ${h.workerId} with reservation ${new Date(until).toISOString()} for the next holder`
          : `released worker id ${h.workerId}; no ids issued under it, so the next holder need not wait`,
      );
    } catch (e) {
      this.logger.warn(`worker id ${h.workerId}: release failed (${(e as Error).message}); the lease lapses by itself`);
    }
  }
}
