/**
 * One simulated world: several instances of the real classes (SegmentGenerator with its poll,
 * SegmentBuffer, SegmentAdmin, PartitionedSource with its watch and layout keeper) on simulated
 * databases, clients asking for ids, random faults and the README's runbooks as operator
 * actions, all on one seeded PRNG and virtual time. See sim/README.md.
 */
import { Clock, IdError, isIdError } from '@app/core';
import { PartitionLayoutKeeper } from '../libs/segment/src/partition-layout-keeper';
import { PartitionWatch } from '../libs/segment/src/partition-watch';
import { PartitionedSource, publishedPartitionTargets } from '../libs/segment/src/partitioned-source';
import { TARGET_FRESH_POLLS } from '../libs/segment/src/segment-sql';
import { SegmentAdmin } from '../libs/segment/src/segment-admin';
import { SegmentBuffer } from '../libs/segment/src/segment-buffer';
import { SegmentGenerator } from '../libs/segment/src/segment.generator';
import { BusinessFormat, periodKey } from '../libs/segment/src/business-format';
import { SnowflakeGenerator } from '../libs/snowflake/src/snowflake-generator';
import { SnowflakeLayout } from '../libs/snowflake/src/snowflake-layout';
import { WorkerLease } from '../libs/snowflake/src/worker-lease';
import { Checker } from './checker';
import { SimDatabase, SimPartitionStore, SimSegmentStore } from './sim-database';
import { SimWorkerLeaseStore } from './sim-lease';
import { Rng, VirtualTime } from './virtual-time';

export const POLL_MS = 1000;
export const STATEMENT_TIMEOUT_MS = 2000;
/** the runbook's "skip past anything that may have been issued" for keys nobody names a target for */
const RUNBOOK_SKIP_BY = 10_000_000n;
/** the virtual clock's start: 2026-01-01T00:00:00Z (VirtualTime) */
const T0 = 1_767_225_600_000;
/** a formatted key per reset, each crossing New Year (a day, a month and a year at once) in its zone */
const FORMATS = {
  day: 'F{yyyy}{MM}{dd}-{seq:12}',
  month: 'M{yyyy}{MM}-{seq:12}',
  year: 'Y{yyyy}-{seq:12}',
} as const;
/** each zone's midnight of 2026-01-01, as an offset from T0 */
const ZONE_MIDNIGHT_MS: Record<string, number> = { UTC: 0, 'Asia/Shanghai': -8 * 3_600_000, 'America/New_York': 5 * 3_600_000 };

export interface WorldOptions {
  seed: number;
  /** virtual minutes of traffic and faults (then a quiet end for the liveness check) */
  minutes: number;
  /** keep the trace (the last lines are printed on a failure) */
  traceLimit?: number;
  /**
   * snowflake instances with worker leases on a database of their own (default: decided by the
   * seed). Off for the regression seeds found before the snowflake was simulated, so that they
   * replay the history they were found in.
   */
  snowflake?: boolean;
  /** the operator re-bases the partitions once, mid-run (default: decided by the seed; off for old regression seeds) */
  rebase?: boolean;
  /** false: the operator never deletes a key by hand (old regression seeds replay as found); default: decided by the seed */
  deletes?: boolean;
}

/** the snowflake's lease settings in the simulator: the defaults' proportions on a short run */
const LEASE = { leaseMs: 3000, renewMs: 1000, maxSkewMs: 1000, startWaitMs: 60_000 };
const SNOWFLAKE_LAYOUT = new SnowflakeLayout(41, 10, 12, Date.UTC(2020, 0, 1));
/** a snowflake clock stays this close to true time: any two differ by less than LEASE.maxSkewMs, the documented bound */
const SNOWFLAKE_SKEW_MS = 450;

const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, log: () => undefined };

class SimInstance {
  session = 0;
  alive = false;
  clockOffset = 0;
  startedAt = 0;
  readonly clock: Clock;
  generator?: SegmentGenerator;
  admin?: SegmentAdmin;
  source?: PartitionedSource;
  partitionBuffer?: SegmentBuffer;
  keeper?: PartitionLayoutKeeper;
  watch?: PartitionWatch;
  partitionStores: SimPartitionStore[] = [];
  /** the snowflake's clock: true time plus a skew within SNOWFLAKE_SKEW_MS */
  snowflakeSkew = 0;
  snowflake?: SnowflakeGenerator;
  lease?: WorkerLease;
  leaseStore?: SimWorkerLeaseStore;

  constructor(
    readonly index: number,
    private readonly world: World,
  ) {
    this.clock = { now: () => this.world.time.now + this.clockOffset };
  }

  get name(): string {
    return `i${this.index}.${this.session}`;
  }

  start(): void {
    if (this.alive) return; // a restart scheduled for an instance the quiet end already started
    const w = this.world;
    this.session++;
    this.alive = true;
    this.startedAt = w.time.now;
    const name = this.name;
    w.trace(`${name}: starts`);
    const store = new SimSegmentStore(w.mainDb, name, w.time, w.checker);
    this.generator = new SegmentGenerator(store, {
      preload: w.preload,
      waitMs: 2000,
      stepMax: w.stepMax,
      dynamicStep: w.dynamicStep,
      clock: this.clock,
      log: quiet,
      pollMs: POLL_MS,
      statementBudgetMs: STATEMENT_TIMEOUT_MS,
      instanceId: name,
      // the period clock is the instance's clock (its steps included), shifted so that the zone's
      // midnight falls inside the run
      periodClock: { now: () => this.clock.now() + w.periodShiftMs },
    });
    this.generator.start();
    this.admin = new SegmentAdmin(store, this.generator, quiet, { publicAvailable: false, stepMax: w.stepMax });
    // every instance holds every partition, preferring its own (go-id-alloc's PartitionIdx)
    const order = w.partitionDbs.map((_, i) => ((i + this.index) % w.partitionDbs.length) + 1);
    this.partitionStores = order.map((idx) => new SimPartitionStore(idx, w.partitionDbs[idx - 1], name, w.time, w.checker));
    const source = new PartitionedSource(
      this.partitionStores,
      w.partitionDbs.length,
      quiet,
      this.clock,
      { preload: w.preload, waitMs: 2000, step: w.partitionSize, stepMax: w.partitionSize },
      publishedPartitionTargets(store, TARGET_FRESH_POLLS * POLL_MS + STATEMENT_TIMEOUT_MS),
      name,
      POLL_MS + STATEMENT_TIMEOUT_MS,
    );
    const buffer = source.buffer;
    this.source = source;
    this.partitionBuffer = buffer;
    this.keeper = new PartitionLayoutKeeper(this.partitionStores, source, { total: w.partitionDbs.length, segmentSize: w.partitionSize }, false, quiet);
    this.watch = new PartitionWatch(this.partitionStores, source, this.keeper, POLL_MS);
    this.watch.start();
    // the start-up check, not awaited (this may run inside a timer: a nested run of virtual time
    // would reorder it); unreachable partitions are checked again by the watch
    void this.keeper.check(false).catch(() => undefined);
    if (w.leaseDb !== undefined) this.startSnowflake(w.leaseDb, name);
  }

  private startSnowflake(db: SimDatabase, name: string): void {
    const w = this.world;
    const clock: Clock = { now: () => w.time.now + this.snowflakeSkew };
    this.leaseStore = new SimWorkerLeaseStore(db, name, w.time);
    const lease = new WorkerLease({
      store: this.leaseStore,
      clock,
      setting: w.staticWorkerIds ? { mode: 'static', workerId: this.index } : { mode: 'lease', from: 0, to: w.workerPool - 1 },
      claimant: { instanceId: name, host: 'sim', pid: this.index },
      leaseMs: LEASE.leaseMs,
      reserveMs: w.reserveMs,
      maxSkewMs: LEASE.maxSkewMs,
      renewMs: LEASE.renewMs,
      startWaitMs: LEASE.startWaitMs,
      onFatal: (message) => w.checker.problem(`${name}: ${message}`),
      logger: {
        log: (m) => w.trace(`${name}: ${m}`),
        warn: (m) => w.trace(`${name}: ${m}`),
        error: (m) => w.trace(`${name}: ${m}`),
      },
    });
    this.snowflake = new SnowflakeGenerator({
      layout: SNOWFLAKE_LAYOUT,
      clock,
      permits: lease,
      maxBackwardMs: 5,
      random: () => w.leaseRng.next(),
    });
    lease.issuedBy(this.snowflake);
    this.lease = lease;
    void lease.start();
  }

  /** SIGTERM: the lease stops issuing and releases its id, then the process is gone */
  async stopGracefully(): Promise<void> {
    const lease = this.lease;
    this.world.trace(`${this.name}: stops (SIGTERM: releases its worker id)`);
    this.crash(lease !== undefined);
    await lease?.stop();
  }

  crash(graceful = false): void {
    if (!this.alive) return;
    this.alive = false;
    if (!graceful) this.world.trace(`${this.name}: crashes (memory lost)`);
    this.generator?.close();
    this.partitionBuffer?.close();
    this.watch?.stop();
    // a crashed process's lease is gone with it: what it sent may still run, nothing more is sent
    if (!graceful) this.leaseStore?.die();
    this.snowflake = undefined;
  }
}

/** the admin route's `{"to": N}` (every id issued afterwards above N), as the controller passes it on */
function httpTo(n: bigint): { to: bigint } {
  return { to: n + 1n };
}

export class World {
  readonly time = new VirtualTime();
  readonly rng: Rng;
  readonly checker: Checker;
  readonly mainDb: SimDatabase;
  readonly partitionDbs: SimDatabase[];
  readonly instances: SimInstance[] = [];
  readonly keys: string[] = [];
  readonly preload: number;
  readonly stepMax: number;
  readonly dynamicStep: boolean;
  partitionSize: number;
  /** the formatted key, if this world has one, and its format */
  readonly formatted?: { key: string; format: BusinessFormat };
  /** added to the instances' clocks for the period: midnight in the format's zone comes mid-run */
  readonly periodShiftMs: number = 0;
  /** the snowflake's own random stream, so that worlds without it replay as before */
  readonly leaseRng: Rng;
  /** worker_node's database, when this world runs the snowflake */
  readonly leaseDb?: SimDatabase;
  readonly workerPool: number = 0;
  /**
   * a quarter of the snowflake worlds: each instance has its own worker id (SNOWFLAKE_WORKER_ID, or
   * a StatefulSet's ordinal: the same claim), the same across its restarts
   */
  readonly staticWorkerIds: boolean = false;
  readonly reserveMs: number = 0;
  /** faults (the snowflake's included) stop here; the quiet end follows */
  private faultsUntil = Infinity;
  /** the operator's re-base of the partitions, on a random stream of its own: when, and the new segment size */
  private readonly rebasePlan?: { atMs: number; segmentSize: number };
  private rebasing = false;
  private readonly traceLines: string[] = [];
  events = 0;
  faults = 0;
  /** lossy events per database not yet covered by the runbook: when they happened */
  private readonly pendingRunbook = new Map<SimDatabase, { at: number; backAt: number; reported?: boolean; verifyAt?: number }>();
  /** instances restarted since a database's lossy event (the runbook then skips every key by N) */
  private restartedSince = new Set<SimDatabase>();
  private nextKey = 0;
  private lastCrashAt = -Infinity;
  /**
   * The operator's deletions by hand, chosen on a random stream of their own (drawn at every
   * operator action, so worlds whose operator never turns to one replay as before)
   */
  private readonly deleteRng: Rng;
  private deletionDueAt?: number;
  /** when the operator first saw each key's mark in a listing (the mark stays with a deleted key) */
  private readonly markSeenAt = new Map<string, number>();
  /** keys deleted by hand, not yet created again (retried until they are) */
  private readonly deleted = new Map<string, { step: number }>();
  /** the operator's own connection, for statements written by hand */
  private readonly byHand: SimSegmentStore;

  constructor(readonly options: WorldOptions) {
    this.rng = new Rng(options.seed);
    const faults = { failRate: this.rng.pick([0, 0.01, 0.05, 0.15]), statementTimeoutMs: STATEMENT_TIMEOUT_MS };
    this.checker = new Checker(this);
    this.mainDb = new SimDatabase('main', this.time, this.rng, faults, (l) => this.trace(l));
    const partitions = this.rng.int(1, 3);
    this.partitionDbs = Array.from({ length: partitions }, (_, i) => new SimDatabase(`p${i + 1}`, this.time, this.rng, faults, (l) => this.trace(l)));
    this.preload = this.rng.pick([0.1, 0.5, 0.9]);
    this.dynamicStep = this.rng.chance(0.5);
    const step = this.rng.pick([5, 10, 50]);
    this.stepMax = step * this.rng.pick([1, 4, 16]);
    this.partitionSize = this.rng.pick([5, 10, 50]);
    const keys = this.rng.int(1, 3);
    for (let i = 0; i < keys; i++) {
      const key = `k${this.nextKey++}`;
      this.keys.push(key);
      this.mainDb.state.keys.set(key, { maxId: 1n, step, description: null });
    }
    if (this.rng.chance(0.5)) {
      const reset = this.rng.pick(['day', 'month', 'year'] as const);
      const timeZone = this.rng.pick(Object.keys(ZONE_MIDNIGHT_MS));
      const spec = { pattern: FORMATS[reset], reset, timeZone, checkDigit: this.rng.pick([null, 'luhn'] as const) };
      const key = `f${this.nextKey++}`;
      this.formatted = { key, format: BusinessFormat.from(spec) };
      this.keys.push(key);
      this.mainDb.state.keys.set(key, { maxId: 1n, step, description: null });
      this.mainDb.state.meta.set(key, { public: false, skipSeq: 0, highWater: 0n, format: JSON.stringify(this.formatted.format.spec) });
      // midnight somewhere between a fifth and four fifths of the run
      const crossAt = Math.floor(options.minutes * 60_000 * (0.2 + 0.6 * this.rng.next()));
      this.periodShiftMs = ZONE_MIDNIGHT_MS[timeZone] - crossAt;
    }
    this.checker.attach([this.mainDb, ...this.partitionDbs]);
    const n = this.rng.int(2, 3);
    for (let i = 0; i < n; i++) this.instances.push(new SimInstance(i, this));
    this.leaseRng = new Rng((options.seed * 7919 + 17) >>> 0);
    this.deleteRng = new Rng((options.seed * 15_485_863 + 11) >>> 0);
    this.byHand = new SimSegmentStore(this.mainDb, 'operator', this.time, this.checker);
    const ops = new Rng((options.seed * 104_729 + 3) >>> 0);
    if (options.rebase ?? ops.chance(0.3)) {
      this.rebasePlan = { atMs: ops.int(2000, Math.max(2001, options.minutes * 60_000 - 2000)), segmentSize: ops.pick([5, 10, 50]) };
    }
    if (options.snowflake ?? this.leaseRng.chance(0.5)) {
      const r = this.leaseRng;
      const leaseFaults = { failRate: r.pick([0, 0.01, 0.05, 0.15]), statementTimeoutMs: STATEMENT_TIMEOUT_MS };
      this.leaseDb = new SimDatabase('lease', this.time, r, leaseFaults, (l) => this.trace(l));
      // the first write of the server's own record: its insert, or its re-record on coming back
      this.leaseDb.keepsOfReign = (c) => c.what === `record lease writer ${c.server}` || c.what.startsWith(`set lease writer ${c.server} to `);
      // a copy from before any server was recorded is a new database (nothing says it moved)
      this.leaseDb.protectsThrough = (c) => c.what.startsWith('record lease writer ');
      // as many worker ids as instances, or a few more (taken ids are recycled once lapsed)
      this.workerPool = n + r.int(0, 2);
      this.reserveMs = r.pick([3000, 8000]);
      // a server that lost writes to a failover is cloned again before it serves: never sooner
      // than a reservation lost with those writes lasts (docs/strategies.md)
      this.leaseDb.rebuildMs = this.reserveMs + LEASE.maxSkewMs;
      // drawn on a stream of its own: the lease worlds' faults stay as they were
      this.staticWorkerIds = new Rng((options.seed * 7_919 + 11) >>> 0).chance(0.25);
    }
  }

  trace(line: string): void {
    this.traceLines.push(`${(this.time.now - 1_767_225_600_000).toString().padStart(7)} ${line}`);
    if (this.traceLines.length > (this.options.traceLimit ?? 4000)) this.traceLines.shift();
  }

  get traceTail(): string[] {
    return this.traceLines;
  }

  private alive(): SimInstance[] {
    return this.instances.filter((i) => i.alive);
  }

  /** one client request to a random live instance */
  private request(): void {
    const live = this.alive();
    if (live.length === 0) return;
    const inst = this.rng.pick(live);
    const count = this.rng.chance(0.8) ? 1 : this.rng.int(2, 12);
    const usePartition = this.rng.chance(0.3);
    const key = this.rng.pick(this.keys);
    const ns = usePartition ? 'partition' : `segment:${key}`;
    const who = inst.name;
    let answer: string[] | Promise<string[]>;
    try {
      answer = usePartition ? inst.partitionBuffer!.take(count) : inst.generator!.next(key, count);
    } catch (e) {
      this.checker.refused(ns, e);
      return;
    }
    // a formatted key's numbers answered to this instance before this request was sent: this
    // answer must be above them (only that key is checked so; other requests need no copy)
    const floor = ns === `segment:${this.formatted?.key}` ? new Map(this.settledMax.get(who) ?? []) : undefined;
    const settle = (ids: string[]) => {
      if (ids.length !== count) this.checker.problem(`${who} answered ${ids.length} ids for count ${count} on ${ns}`);
      this.record(ns, key, ids, who, floor);
    };
    if (Array.isArray(answer)) settle(answer);
    else answer.then(settle, (e) => this.checker.refused(ns, e));
  }

  /**
   * A formatted key's numbers are checked as the sequences they come from: each parsed back to
   * its period and sequence (which must succeed), and held to the rules of the period's own key
   * (`segment:f0~20260101`), documented repeats included. Within an instance and a period the
   * numbers increase: a request sent after another was answered gets greater numbers (`floor`:
   * the greatest answered per period when it was sent; concurrent requests have no order).
   */
  private record(ns: string, key: string, ids: string[], who: string, floor: Map<string, bigint> = new Map()): void {
    const formatted = this.formatted;
    if (formatted === undefined || ns !== `segment:${formatted.key}`) {
      this.checker.issued(ns, ids, who);
      return;
    }
    const byPeriod = new Map<string, string[]>();
    for (const id of ids) {
      let parsed;
      try {
        parsed = formatted.format.parse(id);
      } catch (e) {
        this.checker.problem(`${who} answered ${id} for ${key}, which its format cannot parse: ${(e as Error).message}`);
        continue;
      }
      const periodNs = `segment:${periodKey(key, BusinessFormat.periodDigits(parsed))}`;
      const seq = BigInt(parsed.seq);
      const below = floor.get(periodNs);
      if (below !== undefined && seq <= below) this.checker.problem(`${who} answered ${id} on ${periodNs}, not above ${below} answered before the request was sent`);
      let settled = this.settledMax.get(who);
      if (settled === undefined) this.settledMax.set(who, (settled = new Map()));
      if (seq > (settled.get(periodNs) ?? 0n)) settled.set(periodNs, seq);
      const list = byPeriod.get(periodNs) ?? [];
      list.push(parsed.seq);
      byPeriod.set(periodNs, list);
    }
    for (const [periodNs, seqs] of byPeriod) this.checker.issued(periodNs, seqs, who);
  }

  /** per instance session and period key, the greatest sequence answered so far */
  private readonly settledMax = new Map<string, Map<string, bigint>>();

  private async fault(): Promise<void> {
    const r = this.rng.next();
    const dbs = [this.mainDb, ...this.partitionDbs];
    const db = this.rng.pick(dbs);
    this.faults++;
    if (r < 0.2) {
      db.stall(this.rng.int(100, 6000));
    } else if (r < 0.32) {
      // semi-sync / Galera failover: nothing acknowledged is lost
      db.loseCommits(0, this.rng.int(200, 4000), 'failover (semi-sync: nothing lost)');
    } else if (r < 0.4) {
      this.lossy(db, this.rng.int(1, 6), this.rng.int(200, 4000), 'failover to an asynchronous replica');
    } else if (r < 0.44) {
      this.lossy(db, this.rng.int(5, 40), this.rng.int(1000, 8000), 'restored from an older copy');
    } else if (r < 0.48) {
      this.lossy(db, this.rng.int(1, 3), 0, 'Galera: acknowledged commits lost on a crash, no failover');
    } else if (r < 0.66) {
      const inst = this.rng.pick(this.instances);
      if (inst.alive) {
        inst.crash();
        this.lastCrashAt = this.time.now;
        for (const d of this.pendingRunbook.keys()) this.restartedSince.add(d);
        const down = this.rng.int(0, 5000);
        this.time.schedule(down, () => inst.start());
      }
    } else if (r < 0.78) {
      const inst = this.rng.pick(this.alive());
      if (inst) {
        const step = this.rng.pick([-60_000, -5_000, -100, 100, 5_000, 60_000]);
        inst.clockOffset += step;
        this.trace(`${inst.name}: wall clock stepped ${step > 0 ? '+' : ''}${step} ms`);
      }
    } else {
      this.faults--;
      await this.operatorRoutine();
    }
  }

  private lossy(db: SimDatabase, lost: number, outageMs: number, kind: string): void {
    db.loseCommits(lost, outageMs, kind);
    const pending = this.pendingRunbook.get(db);
    this.pendingRunbook.set(db, { at: pending?.at ?? this.time.now, backAt: this.time.now + outageMs });
    // an instance that crashed shortly before may have issued from the commits just lost
    if (this.time.now - this.lastCrashAt < 60_000) this.restartedSince.add(db);
  }

  /** ordinary admin work, at random: skip by N, PATCH step, a new key, a partition skip, a key deleted and created again */
  private async operatorRoutine(): Promise<void> {
    const inst = this.rng.pick(this.alive());
    if (!inst) return;
    const r = this.rng.next();
    const key = this.rng.pick(this.keys);
    const deleting = this.deleteRng.chance(0.25) && this.options.deletes !== false;
    try {
      if (deleting) {
        await this.deleteAKey(inst, true);
      } else if (r < 0.3) {
        const by = BigInt(this.rng.int(1, 500));
        this.trace(`operator: skip ${key} by ${by} through ${inst.name}`);
        await this.call(inst.admin!.skip(key, { by }));
      } else if (r < 0.55) {
        const step = this.rng.pick([5, 10, 20, 50]);
        this.trace(`operator: PATCH ${key} step ${step} through ${inst.name}`);
        await this.call(inst.admin!.update(key, { step }));
      } else if (r < 0.7 && this.keys.length < 6) {
        const newKey = `k${this.nextKey++}`;
        this.trace(`operator: create ${newKey} through ${inst.name}`);
        await this.call(inst.admin!.create({ key: newKey, startId: 1n, step: 10, description: null, public: false }));
        this.keys.push(newKey);
      } else {
        const idx = this.rng.int(1, this.partitionDbs.length);
        const layout = inst.source!.layoutOf(idx);
        if (!layout) return;
        const state = this.partitionDbs[idx - 1].state.partitions.get(idx);
        const first = layout.base + (state ? state.lastId : 0n) * BigInt(layout.segmentSize) * BigInt(layout.total);
        const to = first + BigInt(this.rng.int(0, 500));
        this.trace(`operator: partition ${idx} skip to ${to} through ${inst.name}`);
        await this.call(inst.source!.skip(idx, to));
      }
    } catch (e) {
      this.trace(`operator: refused: ${isIdError(e) ? `${e.code} ${e.message}` : String(e)}`);
    }
  }

  /**
   * The operator deletes a key by hand and creates it again, if one may be deleted; else, when a
   * listing showed a mark only now, comes back a poll period later (`later`: once).
   */
  private async deleteAKey(inst: SimInstance, later: boolean): Promise<void> {
    const key = await this.deletable(inst);
    if (key !== undefined) await this.deleteAndCreate(inst, key);
    else if (later && this.deletionDueAt === undefined && this.keys.some((k) => this.markSeenAt.has(k) && k !== this.formatted?.key)) {
      this.deletionDueAt = this.time.now + POLL_MS;
    }
  }

  /** a deletion the operator comes back for (deleteAKey) */
  private async dueDeletion(): Promise<void> {
    if (this.deletionDueAt === undefined || this.time.now < this.deletionDueAt) return;
    this.deletionDueAt = undefined;
    const inst = this.deleteRng.pick(this.alive());
    if (inst === undefined) return;
    try {
      await this.deleteAKey(inst, false);
    } catch (e) {
      this.trace(`operator: refused: ${isIdError(e) ? `${e.code} ${e.message}` : String(e)}`);
    }
  }

  /**
   * A key the operator may delete, as docs/operations.md says: a plain key (a period key is the
   * service's own) whose `highWater` the listing has shown other than "0" for a poll period (a
   * key made by hand has no mark until a poll writes one), not deleted already, while no runbook
   * for the main database is pending (a loss not yet handled comes first). None: nothing done.
   */
  private async deletable(inst: SimInstance): Promise<string | undefined> {
    if (this.pendingRunbook.has(this.mainDb)) return undefined;
    const listing = await this.call(inst.admin!.list());
    for (const row of listing) if (row.highWater !== '0' && !this.markSeenAt.has(row.key)) this.markSeenAt.set(row.key, this.time.now);
    const keys = listing
      .map((row) => row.key)
      .filter((k) => this.keys.includes(k) && k !== this.formatted?.key && !this.deleted.has(k) && (this.markSeenAt.get(k) ?? Infinity) <= this.time.now - POLL_MS);
    return keys.length === 0 ? undefined : this.deleteRng.pick(keys);
  }

  /**
   * docs/operations.md: a key deleted by hand (`DELETE FROM leaf_alloc`: outside the service, no
   * bump of the change row, the meta row and its mark stay), then created again through the admin
   * API as a user would: at 1 first, and on INVALID_START at the smallest start it names.
   */
  private async deleteAndCreate(inst: SimInstance, key: string): Promise<void> {
    const step = this.mainDb.state.keys.get(key)!.step;
    this.trace(`operator: DELETE FROM leaf_alloc WHERE biz_tag = '${key}' (by hand)`);
    this.deleted.set(key, { step });
    try {
      await this.call(this.byHand.deleteRow(key));
    } catch (e) {
      // not committed, or committed with its answer lost: the create tells which (KEY_EXISTS)
      this.trace(`operator: the DELETE failed: ${isIdError(e) ? `${e.code} ${e.message}` : String(e)}`);
    }
    await this.createDeleted(inst, key);
  }

  private nextCreateRetryAt = 0;

  /** deleted keys whose creation failed, tried again (once a second) through a live instance */
  private async retryDeleted(): Promise<void> {
    if (this.deleted.size === 0 || this.time.now < this.nextCreateRetryAt) return;
    this.nextCreateRetryAt = this.time.now + 1000;
    const inst = this.alive()[0];
    if (inst === undefined) return;
    for (const key of [...this.deleted.keys()]) await this.createDeleted(inst, key);
  }

  /** a deleted key created again (at 1, then at the smallest start named); kept for a retry when the database does not answer */
  private async createDeleted(inst: SimInstance, key: string): Promise<void> {
    const pending = this.deleted.get(key);
    if (pending === undefined) return;
    const create = (startId: bigint) => this.call(inst.admin!.create({ key, startId, step: pending.step, description: null, public: false }));
    try {
      try {
        this.trace(`operator: create ${key} again at 1 through ${inst.name}`);
        await create(1n);
      } catch (e) {
        const named = isIdError(e) && e.code === 'INVALID_START' ? /start at (\d+) or above/.exec(e.message) : null;
        if (named === null) throw e;
        this.trace(`operator: refused (${named.input}); create ${key} at ${named[1]}`);
        await create(BigInt(named[1]));
      }
      this.deleted.delete(key);
    } catch (e) {
      if (isIdError(e) && e.code === 'KEY_EXISTS') this.deleted.delete(key); // the DELETE did not commit, or a create's answer was lost
      else this.trace(`operator: create ${key} again failed (will retry): ${isIdError(e) ? `${e.code} ${e.message}` : String(e)}`);
    }
  }

  /**
   * The README's runbook after a database lost writes, once every live instance has polled the
   * database since it came back: keys with a requiredSkipTarget skipped to it (after a first try
   * below it, which must be refused), every other key (every key if an instance restarted since)
   * by N; each partition of the database skipped to the target the service names.
   */
  private async runbooks(): Promise<void> {
    for (const [db, pending] of [...this.pendingRunbook]) {
      const live = this.alive();
      if (live.length === 0) return;
      if (pending.verifyAt !== undefined) {
        // step 4: after appliedByAllWithinMs, nothing may be down on any instance; else again
        if (this.time.now < pending.verifyAt) continue;
        const down = live.filter((inst) => this.haltedOn(inst, db));
        if (down.length === 0) {
          this.pendingRunbook.delete(db);
          this.restartedSince.delete(db);
          continue;
        }
        this.trace(`operator: runbook check for db ${db.name}: still halted on ${down.map((i) => i.name).join(', ')}: again`);
        pending.verifyAt = undefined;
        pending.backAt = this.time.now;
      }
      const polledSince = live.every((inst) => {
        if (db === this.mainDb) {
          const status = inst.generator!.pollStatus();
          return this.time.now - status.lastOkAgoMs > pending.backAt && [...inst.generator!.inUse()].length > 0;
        }
        const idx = this.partitionDbs.indexOf(db) + 1;
        return (inst.source!.lastPollSentAt(idx) ?? 0) > pending.backAt;
      });
      if (!polledSince || this.time.now < pending.backAt + 2 * POLL_MS) {
        if (this.time.now > pending.backAt + 30_000 && !pending.reported) {
          pending.reported = true;
          const idx = this.partitionDbs.indexOf(db) + 1;
          const who = live.map((i) => `${i.name}: ${db === this.mainDb ? JSON.stringify(i.generator!.pollStatus()) : JSON.stringify(i.source!.detail().partitions)} poll sent ${idx > 0 ? i.source!.lastPollSentAt(idx) : ''}`);
          this.trace(`operator: db ${db.name} back for 30 s and not every instance has polled it since: waiting (the runbook's check): ${who.join('; ')}`);
        }
        continue;
      }
      const inst = this.rng.pick(live);
      const restarted = this.restartedSince.has(db);
      this.trace(`operator: runbook for db ${db.name} through ${inst.name}${restarted ? ' (instances restarted since: skip everything by N)' : ''}`);
      try {
        if (db === this.mainDb) await this.keyRunbook(inst, restarted);
        else await this.partitionRunbook(inst, this.partitionDbs.indexOf(db) + 1, restarted);
        pending.verifyAt = this.time.now + POLL_MS + STATEMENT_TIMEOUT_MS + POLL_MS;
      } catch (e) {
        this.trace(`operator: runbook step failed (will retry): ${isIdError(e) ? `${e.code} ${e.message}` : String(e)}`);
      }
    }
  }

  /** what readiness shows an operator: a key or a partition of this database halted on the instance */
  private haltedOn(inst: SimInstance, db: SimDatabase): boolean {
    if (db === this.mainDb) return [...inst.generator!.inUse()].some(([, { buffer }]) => buffer.isHalted);
    const idx = this.partitionDbs.indexOf(db) + 1;
    const detail = inst.source!.detail().partitions as Record<string, { reason?: string }>;
    return /rolled back/.test(detail[String(idx)]?.reason ?? '');
  }

  private async keyRunbook(inst: SimInstance, restarted: boolean): Promise<void> {
    const listing = await this.call(inst.admin!.list());
    // keys created after the copy was taken are gone with it: created again above every id they
    // issued (the operator's records), as the runbook says
    for (const key of this.keys.filter((k) => !listing.some((row) => row.key === k))) {
      const startId = this.checker.highestIssued(`segment:${key}`) + RUNBOOK_SKIP_BY;
      this.trace(`operator: ${key} is gone: create it again at ${startId}`);
      try {
        const format = key === this.formatted?.key ? this.formatted.format.spec : undefined;
        await this.call(inst.admin!.create({ key, startId, step: 10, description: null, public: false, format }));
      } catch (e) {
        if (!isIdError(e) || e.code !== 'KEY_EXISTS') throw e;
      }
    }
    for (const row of listing) {
      const required = row.requiredSkipTarget;
      if (required !== null && !restarted) {
        const below = BigInt(required) - BigInt(this.rng.int(1, 50));
        if (below > BigInt(row.maxId)) {
          try {
            await this.call(inst.admin!.skip(row.key, httpTo(below)));
            this.checker.problem(`a skip of ${row.key} to ${below} below the required ${required} was accepted`);
          } catch (e) {
            if (!isIdError(e) || e.code !== 'SKIP_BACKWARDS') throw e;
          }
        }
        this.trace(`operator: skip ${row.key} to ${required}`);
        try {
          await this.call(inst.admin!.skip(row.key, httpTo(BigInt(required))));
        } catch (e) {
          if (!isIdError(e) || e.code !== 'SKIP_BACKWARDS') throw e;
          // the key already issues above the target: the runbook's {"by": 1} moves the skip
          // counter, which is what resumes the halted instances
          this.trace(`operator: ${row.key} is past ${required}: skip by 1`);
          await this.call(inst.admin!.skip(row.key, { by: 1n }));
        }
      } else if (required !== null && BigInt(required) > BigInt(row.maxId) + RUNBOOK_SKIP_BY) {
        // the runbook's step 3: a named target above max_id + N wins (a lost write can take max_id
        // back below an earlier skip by N that instances drew above)
        this.trace(`operator: skip ${row.key} to ${required} (named, above max_id + ${RUNBOOK_SKIP_BY})`);
        await this.call(inst.admin!.skip(row.key, httpTo(BigInt(required))));
      } else {
        this.trace(`operator: skip ${row.key} by ${RUNBOOK_SKIP_BY}`);
        await this.call(inst.admin!.skip(row.key, { by: RUNBOOK_SKIP_BY }));
      }
    }
  }

  /**
   * A partition: the target the operator has is what the service names (requiredSkipTarget),
   * or, where it names none, a number from the operator's records that may be too low (the
   * database's own position plus a little): the service must refuse any target below what a
   * live instance issued or saw.
   */
  private async partitionRunbook(inst: SimInstance, idx: number, restarted: boolean): Promise<void> {
    const source = inst.source!;
    const layout = source.layoutOf(idx);
    if (!layout) throw new IdError('DATABASE_UNAVAILABLE', `partition ${idx} not checked on ${inst.name}`);
    const named = await this.namedPartitionTarget(inst, idx);
    const recordsMax = this.checker.highestIssued('partition');
    let to: bigint;
    if (restarted) to = recordsMax + 1n + BigInt(layout.segmentSize) * BigInt(layout.total) * 1000n;
    else if (named !== undefined) to = named;
    else {
      const state = this.partitionDbs[idx - 1].state.partitions.get(idx);
      const first = layout.base + (state ? state.lastId : 0n) * BigInt(layout.segmentSize) * BigInt(layout.total);
      to = first + BigInt(this.rng.int(0, 200));
    }
    this.trace(`operator: partition ${idx} skip to ${to}${named !== undefined ? ' (named by the service)' : ''}`);
    try {
      await this.call(source.skip(idx, to));
    } catch (e) {
      if (!isIdError(e) || e.code !== 'SKIP_BACKWARDS') throw e;
      // the refusal names the smallest target the service accepts: take it
      const required = await this.call(source.requiredTarget(idx));
      this.trace(`operator: refused (${e.message}); partition ${idx} skip to ${required}`);
      try {
        await this.call(source.skip(idx, required));
      } catch (again) {
        if (!isIdError(again) || again.code !== 'SKIP_BACKWARDS') throw again;
        // already past it: a skip one segment further still moves the skip counter
        await this.call(source.skip(idx, required + BigInt(layout.segmentSize) * BigInt(layout.total)));
      }
    }
  }

  /** what the service names as the smallest safe target for a partition (none yet: undefined) */
  private async namedPartitionTarget(_inst: SimInstance, _idx: number): Promise<bigint | undefined> {
    return undefined;
  }

  async run(): Promise<void> {
    this.time.install();
    try {
      for (const inst of this.instances) inst.start();
      for (const db of [this.mainDb, ...this.partitionDbs]) db.protectedUntil = this.time.now + 1000;
      const end = this.time.now + this.options.minutes * 60_000;
      this.faultsUntil = end;
      if (this.leaseDb !== undefined) {
        this.leaseDb.protectedUntil = this.time.now + 1000;
        this.snowflakeTraffic();
        this.time.schedule(this.leaseRng.int(500, 5000), () => void this.leaseFault());
      }
      if (this.rebasePlan !== undefined) {
        const plan = this.rebasePlan;
        this.time.schedule(plan.atMs, () => void this.rebase(plan.segmentSize));
      }
      // Poisson-ish schedule: requests every few ms, a fault every few seconds
      let nextFault = this.time.now + this.rng.int(500, 6000);
      while (this.time.now < end) {
        const step = this.rng.int(1, 40);
        await this.time.runUntil(this.time.now + step);
        this.events++;
        const burst = this.rng.int(1, 4);
        for (let i = 0; i < burst; i++) this.request();
        if (this.time.now >= nextFault) {
          await this.fault();
          nextFault = this.time.now + this.rng.int(300, 8000);
        }
        await this.runbooks();
        await this.dueDeletion();
        await this.retryDeleted();
      }
      await this.quietEnd();
    } finally {
      for (const inst of this.instances) inst.crash();
      await this.time.runUntil(this.time.now + 10_000);
      this.time.clear();
      this.time.uninstall();
    }
  }

  /** snowflake requests to a random live instance every few ms, on the snowflake's own random stream */
  private snowflakeTraffic(): void {
    const r = this.leaseRng;
    const tick = () => {
      const live = this.alive().filter((i) => i.snowflake !== undefined);
      if (live.length > 0) {
        const inst = r.pick(live);
        const count = r.chance(0.8) ? 1 : r.int(2, 20);
        const who = inst.name;
        const settle = (ids: string[]) => {
          if (ids.length !== count) this.checker.problem(`${who} answered ${ids.length} snowflake ids for count ${count}`);
          this.checker.snowflakeIssued(ids, who, SNOWFLAKE_LAYOUT.sequenceBits, SNOWFLAKE_LAYOUT.workerBits);
        };
        try {
          const answer = inst.snowflake!.next(count);
          if (Array.isArray(answer)) settle(answer);
          else answer.then(settle, (e) => this.checker.refused('snowflake', e));
        } catch (e) {
          this.checker.refused('snowflake', e);
        }
      }
      if (this.alive().length > 0 || this.time.now < this.faultsUntil) this.time.schedule(r.int(1, 20), tick);
    };
    this.time.schedule(1, tick);
  }

  /**
   * The snowflake's faults, on worker_node's database and the instances' snowflake clocks: a
   * stall, a failover that keeps or loses the last commits (to another server, perhaps one that
   * was primary before), one instance cut off from the database while others reach it, a
   * rolling restart of one instance (SIGTERM), a clock skew within the documented bound.
   * Restores and commits lost without a failover are left out: the README names them as outside
   * the lease's guarantee (a restore's runbook; innodb_flush_log_at_trx_commit=1 on Galera).
   */
  private async leaseFault(): Promise<void> {
    if (this.time.now >= this.faultsUntil) return;
    const r = this.leaseRng;
    const db = this.leaseDb!;
    const x = r.next();
    this.faults++;
    if (x < 0.15) {
      db.stall(r.int(100, 6000));
    } else if (x < 0.5 && !db.promote((servers) => r.pick(servers))) {
      db.stall(r.int(200, 4000)); // every other server is being rebuilt: an outage, no failover
    } else if (x < 0.3) {
      db.loseCommits(0, r.int(200, 4000), `failover to ${db.server} (semi-sync: nothing lost)`);
    } else if (x < 0.5) {
      const outageMs = r.int(200, 4000);
      db.loseCommits(r.int(1, 30), outageMs, `failover to ${db.server}, an asynchronous replica`);
      // the partition that made the failover often cuts an instance off the new primary too (it
      // keeps issuing on its reservation), while another restarts and takes a worker id
      const live = this.alive();
      if (live.length > 1 && r.chance(0.6)) {
        const cut = r.pick(live);
        db.cutOff(cut.name, outageMs + r.int(500, this.reserveMs));
        const other = r.pick(live.filter((i) => i !== cut));
        await this.call(other.stopGracefully()).catch(() => undefined);
        this.time.schedule(r.int(0, outageMs + 1000), () => other.start());
      }
    } else if (x < 0.7) {
      const inst = r.pick(this.alive());
      if (inst !== undefined) db.cutOff(inst.name, r.int(500, 12_000));
    } else if (x < 0.85) {
      const inst = r.pick(this.alive());
      if (inst !== undefined) {
        await this.call(inst.stopGracefully()).catch(() => undefined);
        this.time.schedule(r.int(0, 3000), () => inst.start());
      }
    } else {
      const inst = r.pick(this.alive());
      if (inst !== undefined) {
        inst.snowflakeSkew = r.int(-SNOWFLAKE_SKEW_MS, SNOWFLAKE_SKEW_MS);
        this.trace(`${inst.name}: snowflake clock now ${inst.snowflakeSkew} ms off true time`);
      }
    }
    this.time.schedule(r.int(500, 5000), () => void this.leaseFault());
  }

  /**
   * The re-base runbook (compatibility.md): POST /admin/partitions/rebase through a live instance
   * with a new segment size (smaller or larger), again until it is answered (a refusal or a
   * re-base cut off half-way is run again), then every instance restarted with the new size. A
   * copy older than the re-base is out of scope (its records would be a layout no one runs): the
   * partition databases keep what came before it.
   */
  private async rebase(segmentSize: number): Promise<void> {
    this.rebasing = true;
    // a partition copy restored from before the re-base's fences would disagree with the others'
    // records: the re-base refuses it by name (keeper: "the partition records disagree"), whose
    // remedy is outside the runbook; while it runs, partition databases lose nothing
    for (const db of this.partitionDbs) db.protectedUntil = Infinity;
    try {
      for (let attempt = 0; attempt < 120; attempt++) {
        // each try through the next live instance: a refusal may name one that knows more
        // ("run the re-base on an instance that holds it")
        const live = this.alive();
        const inst = live[attempt % Math.max(1, live.length)];
        if (inst !== undefined) {
          this.trace(`operator: re-base the partitions to segment size ${segmentSize} through ${inst.name}`);
          try {
            const r = await this.call(inst.keeper!.rebase({ total: this.partitionDbs.length, segmentSize }, []));
            this.trace(`operator: re-based to version ${r.version}, base ${r.base}; restarting every instance with PARTITION_SEGMENT_SIZE=${segmentSize}`);
            this.partitionSize = segmentSize;
            for (const i of this.instances) {
              await this.call(i.stopGracefully()).catch(() => undefined);
              await this.time.runUntil(this.time.now + 200);
              i.start();
            }
            return;
          } catch (e) {
            this.trace(`operator: re-base refused (will retry): ${isIdError(e) ? `${e.code} ${e.message}` : String(e)}`);
          }
        }
        await this.time.runUntil(this.time.now + 1000);
      }
      this.checker.stuck('the re-base was refused for 120 s');
    } finally {
      this.rebasing = false;
      for (const db of this.partitionDbs) db.protectedUntil = this.time.now;
    }
  }

  /** no more faults: dead instances start, pending runbooks run, then every key must issue */
  private async quietEnd(): Promise<void> {
    this.faultsUntil = this.time.now;
    this.trace('quiet: faults stop');
    for (const inst of this.instances) if (!inst.alive) inst.start();
    for (const inst of this.instances) inst.clockOffset = 0;
    const deadline = this.time.now + 60_000;
    while ((this.pendingRunbook.size > 0 || this.rebasing || this.deleted.size > 0) && this.time.now < deadline) {
      for (let i = 0; i < 5; i++) this.request();
      await this.time.runUntil(this.time.now + 200);
      await this.runbooks();
      await this.retryDeleted();
    }
    await this.time.runUntil(this.time.now + 3 * POLL_MS + STATEMENT_TIMEOUT_MS);
    for (const inst of this.instances) {
      for (const key of this.keys) await this.mustIssue(inst, `segment:${key}`, () => inst.generator!.next(key, 1));
      await this.mustIssue(inst, 'partition', () => inst.partitionBuffer!.take(1));
      if (this.leaseDb !== undefined) await this.mustIssue(inst, 'snowflake', () => inst.snowflake!.next(1));
    }
  }

  private async mustIssue(inst: SimInstance, ns: string, take: () => string[] | Promise<string[]>): Promise<void> {
    let lastError: unknown;
    // a snowflake instance may need more: a cut-off that outlasts the faults by up to a
    // reservation, the lapse, then a takeover's reserve + skew, with statements still failing
    const attempts = ns === 'snowflake' ? 40 : 20;
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        const answer = take();
        const ids = Array.isArray(answer) ? answer : await this.settleWithin(answer, 5000);
        if (ns === 'snowflake') this.checker.snowflakeIssued(ids, inst.name, SNOWFLAKE_LAYOUT.sequenceBits, SNOWFLAKE_LAYOUT.workerBits);
        else this.record(ns, ns.slice('segment:'.length), ids, inst.name);
        return;
      } catch (e) {
        lastError = e;
        await this.time.runUntil(this.time.now + 1000);
      }
    }
    const why = isIdError(lastError) ? `${lastError.code} ${lastError.message}` : String(lastError);
    // A first layout whose write was cut between partition databases is refused with its reason
    // and its remedy (a re-base), which this simulator does not run: a named halt, counted apart.
    if (/records no layout/.test(why)) this.checker.namedHalt(`${inst.name} ${ns}: ${why}`);
    else this.checker.stuck(`${inst.name} cannot issue ${ns} after the quiet period: ${why}`);
  }

  /** awaits the code under test while virtual time runs (a bare await would wait forever) */
  call<T>(p: Promise<T>): Promise<T> {
    return this.settleWithin(p, 60_000);
  }

  /** a promise from the code under test, settled while virtual time runs */
  private async settleWithin<T>(p: Promise<T>, ms: number): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    p.then(
      (v) => {
        done = true;
        value = v;
      },
      (e) => {
        done = true;
        error = e ?? new Error('rejected');
      },
    );
    const until = this.time.now + ms;
    while (!done && this.time.now < until) await this.time.runUntil(this.time.now + 50);
    if (!done) throw new Error('no answer');
    if (error !== undefined) throw error;
    return value as T;
  }
}
