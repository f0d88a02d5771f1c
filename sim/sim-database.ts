/**
 * The simulated database: in-memory tables behind the same store interfaces the service uses
 * (SegmentStore, PartitionStore), each method a small model of the SQL it stands for.
 *
 * Statement model (what every store method goes through, `exec`):
 * - A statement is sent, runs atomically at one virtual instant (a MySQL statement under its row
 *   locks, or a transaction: SQL serialises them, so running them one at a time is faithful),
 *   and its answer arrives a few ms later.
 * - A stalled database runs nothing until the stall ends; the driver gives up after the
 *   statement timeout (DATABASE_UNAVAILABLE) while the statement may still run later: an
 *   unknown outcome, as with mysql2's timeout over a live connection.
 * - A fault may fail a statement before it runs (nothing committed) or after (committed, the
 *   answer lost): both answer DATABASE_UNAVAILABLE.
 * - Every committed write keeps a snapshot; a failover promotes a copy that lost the last K
 *   commits (K = 0: semi-sync AFTER_SYNC or Galera; K > 0: an asynchronous replica), a restore
 *   goes back further, and a Galera-style loss drops the last K commits with no failover at all.
 *   Statements that run during the move fail without effect.
 * - The database's clock (NOW() for published targets) is the true virtual time.
 */
import { IdError } from '@app/core';
import type { PartitionLayout } from '../libs/segment/src/partition-layout';
import type { LayoutFence, PartitionPollAnswer, PartitionStore } from '../libs/segment/src/partition-store';
import { AllocationUnverified, skipBackwards as partitionSkipBackwards } from '../libs/segment/src/partition-store';
import {
  belowMark,
  exhausted,
  keyExists,
  skipBackwards,
  skipPastMax,
  smallestStart,
  unknownKey,
} from '../libs/segment/src/segment-sql';
import { OwnFetches } from '../libs/segment/src/change-watch';
import { ChangeMark, FetchOutcome, FetchRequest, MAX_ID, NewSegmentKey, PublishedTarget, SegmentKeyRow, SegmentStore, SkipTarget } from '../libs/segment/src/segment-store';
import { SegmentTable } from '../libs/segment/src/segment-table';
import { Rng, VirtualTime } from './virtual-time';

interface KeyState {
  maxId: bigint;
  step: number;
  description: string | null;
}
interface MetaState {
  public: boolean;
  skipSeq: number;
  highWater: bigint;
  /** a business-number format's JSON (id_segment_meta.format) */
  format?: string | null;
}
interface PartitionTable {
  /** the auto-increment's last id (MAX(id)); allocation n is id n + 1; 0: empty */
  lastId: bigint;
  /** recorded layouts, by version, each with its skip counter */
  layouts: (PartitionLayout & { skips: bigint })[];
}

/** Everything the database holds; copied whole at each commit (it is small). */
export interface DbState {
  keys: Map<string, KeyState>;
  meta: Map<string, MetaState>;
  /** id_segment_halt: instance|key -> target, seen_at */
  halts: Map<string, { key: string; target: bigint; seenAt: number }>;
  partitions: Map<number, PartitionTable>;
  /** id_segment_change: bumped by every write the segment poll must see, lost with it */
  change: ChangeMark;
  /** worker_node (sim-lease.ts): heartbeat by the database's clock */
  workers: Map<number, { instanceId: string | null; heartbeatAt: number | null; reservedUntil: number; acquiredAt: number | null }>;
  /** id_meta's "lease writer <server>" rows: when each server first took a lease write (database clock) */
  leaseWriters: Map<string, number>;
}

export interface DbFaults {
  /** chance that a statement fails (half before it runs, half after it committed) */
  failRate: number;
  /** the driver's statement timeout */
  statementTimeoutMs: number;
}

/** A committed write, for the checker: which fetch it was, and whether it survived. */
export interface CommitRecord {
  seq: number;
  at: number;
  who: string;
  what: string;
  lost: boolean;
  /** when it was lost (virtual ms) */
  lostAt?: number;
  /** the server that took it (SimDatabase.server at the time) */
  server: string;
}

/** Told of every answer delivered: what the asker can know of the database from then on. */
/** `revealed`: the counters the answer showed its asker (key or `p<idx>` -> max_id or allocation number) */
export type AnswerHook = (who: string, revealed: [string, bigint][], ranAt: number, deliveredAt: number) => void;

export type TraceFn = (line: string) => void;

/** the database servers a failover moves between */
const SERVERS = ['s1', 's2', 's3'];

export class SimDatabase {
  state: DbState;
  private snapshots: { seq: number; at: number; state: DbState }[] = [];
  private commitSeq = 0;
  readonly commits = new Map<number, CommitRecord>();
  private stalledUntil = 0;
  /** a failover or restore in progress: statements fail until then */
  private movingUntil = 0;
  onAnswer?: AnswerHook;
  /** commits made before this (virtual ms) are never lost */
  protectedUntil = 0;
  /**
   * The commit that makes this database the service's: it and all before it are never lost (a
   * copy older than it is a new database, not a failover's loss). Checked until one matches.
   */
  protectsThrough?: (c: CommitRecord) => boolean;
  /** the server taking writes (@@server_id): a failover promotes another of SERVERS, perhaps one that was primary before */
  server = SERVERS[0];
  private movesBetweenServers = false;
  /**
   * Which commit of a server's time as primary a failover away from it keeps, at least (with all
   * before it): the lease's guarantee leaves out a failover that loses the previous primary's
   * writes back to its first lease-writer record (docs/strategies.md). The first such commit of
   * the current server's time, and of the time the last promotion ended.
   */
  keepsOfReign?: (c: CommitRecord) => boolean;
  private reignFrom?: number;
  private leftReignFrom?: number;
  /**
   * per server, the last commit of the current history it is known to hold: all it had when it
   * stopped being primary or was promoted. A replica applies its primary's history in order and
   * never drops what it applied, so a later promotion of it loses only commits after that (unless
   * a failover lost them first: then every server is rebuilt from the new primary's copy).
   */
  private readonly heldThrough = new Map<string, number>();
  /**
   * How long a server that holds commits a failover lost (the primary left, diverged) takes to be
   * rebuilt from the new primary's copy before it can be promoted again (a clone: minutes in
   * practice; the world sets at least the lease's reserve + skew, the time the guarantee needs)
   */
  rebuildMs = 0;
  private readonly rebuiltAt = new Map<string, number>();
  /** per asker: its connections to this database are cut until then (a network partition of one instance) */
  private readonly cutOffUntil = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly time: VirtualTime,
    private readonly rng: Rng,
    readonly faults: DbFaults,
    readonly trace: TraceFn,
  ) {
    this.state = {
      keys: new Map(),
      meta: new Map(),
      halts: new Map(),
      partitions: new Map(),
      change: { seq: 0n, token: 0n },
      workers: new Map(),
      leaseWriters: new Map(),
    };
    this.snapshot();
  }

  /** RAND() in a statement: a stream of its own, so the faults' stream stays as it was */
  private sqlRng?: Rng;
  rand(): number {
    return (this.sqlRng ??= new Rng((this.rng.seed * 31 + 7) >>> 0)).next();
  }

  /** the sequence number the statement running now will commit under */
  get nextCommitSeq(): number {
    return this.commitSeq + 1;
  }

  private snapshot(): void {
    this.snapshots.push({ seq: this.commitSeq, at: this.time.now, state: structuredClone(this.state) });
    if (this.snapshots.length > 400) this.snapshots.shift();
  }

  /**
   * The server a failover promotes: another of SERVERS (a failback to an earlier primary
   * included), not one still being rebuilt; false when every other server is (no failover).
   */
  promote(pick: (servers: string[]) => string): boolean {
    const ready = SERVERS.filter((name) => name !== this.server && (this.rebuiltAt.get(name) ?? 0) <= this.time.now);
    if (ready.length === 0) return false;
    this.movesBetweenServers = true;
    this.leftReignFrom = this.reignFrom;
    this.reignFrom = undefined;
    this.heldThrough.set(this.server, this.commitSeq);
    this.server = pick(ready);
    return true;
  }

  /** `who`'s statements fail without effect for `ms`, others' go on (the asker cut off, not the database) */
  cutOff(who: string, ms: number): void {
    this.cutOffUntil.set(who, Math.max(this.cutOffUntil.get(who) ?? 0, this.time.now + ms));
    this.trace(`db ${this.name}: ${who} cut off from it for ${ms} ms`);
  }

  stall(ms: number): void {
    this.stalledUntil = Math.max(this.stalledUntil, this.time.now + ms);
    this.trace(`db ${this.name}: stalls for ${ms} ms`);
  }

  /**
   * The primary is replaced by a copy that lost the last `lost` commits (0: nothing lost); the
   * database is unreachable for `outageMs`. `kind` names the story in the trace.
   */
  loseCommits(lost: number, outageMs: number, kind: string): void {
    // never back past the service's first minutes (the layout records, the keys' creation): a
    // copy older than the service itself is a new database, not a restore
    let keep = Math.max(0, this.snapshots.length - 1 - lost);
    while (keep < this.snapshots.length - 1 && this.snapshots[keep].at < this.protectedUntil) keep++;
    // a server promoted again (promote) has what it held: every commit it took itself while it was
    // primary and all it had applied before; it lags only behind what others took after that
    // (the databases whose failovers are not modelled as moves between servers stay one timeline)
    // a rebuilt server is a clone of the primary as it was when the rebuild ended
    const rebuilt = this.rebuiltAt.get(this.server);
    const cloned = rebuilt === undefined ? 0 : (this.snapshots.filter((x) => x.at <= rebuilt).pop()?.seq ?? 0);
    const held = Math.max(this.heldThrough.get(this.server) ?? 0, cloned);
    while (this.movesBetweenServers && keep < this.snapshots.length - 1 && this.snapshots[keep].seq < held) keep++;
    // nor the previous primary's time back to the commit keepsOfReign names
    const left = this.leftReignFrom;
    if (this.movesBetweenServers && left !== undefined) {
      while (keep < this.snapshots.length - 1 && this.snapshots[keep].seq < left) keep++;
    }
    const dropped = this.snapshots.splice(keep + 1);
    if (this.movesBetweenServers) {
      const last = this.snapshots[keep].seq;
      for (const [server, seq] of this.heldThrough) {
        if (seq <= last) continue;
        this.heldThrough.set(server, last);
        this.rebuiltAt.set(server, this.time.now + this.rebuildMs);
      }
      this.heldThrough.set(this.server, last);
    }
    for (const s of dropped) {
      const c = this.commits.get(s.seq);
      if (c) {
        c.lost = true;
        c.lostAt = this.time.now;
      }
    }
    const layouts = new Map([...this.state.partitions].map(([idx, t]) => [idx, t.layouts]));
    this.state = structuredClone(this.snapshots[keep].state);
    // a copy that predates a partition's layout record predates the service: out of scope
    for (const [idx, kept] of layouts) {
      const t = this.state.partitions.get(idx);
      if (t === undefined) this.state.partitions.set(idx, { lastId: 0n, layouts: structuredClone(kept) });
      else if (t.layouts.length === 0) t.layouts = structuredClone(kept);
    }
    this.movingUntil = Math.max(this.movingUntil, this.time.now + outageMs);
    this.trace(
      `db ${this.name}: ${kind}: ${dropped.length} commit(s) lost (${dropped.map((s) => this.commits.get(s.seq)?.what ?? s.seq).join(', ') || 'none'}); unreachable ${outageMs} ms`,
    );
  }

  /**
   * Runs `work` as one statement (or one transaction) at a virtual instant. `work` must throw
   * before it changes anything (an IdError is the SQL's own refusal, answered as is).
   */
  exec<T>(
    who: string,
    what: string,
    write: boolean,
    work: (s: DbState) => T,
    opts: {
      timeoutMs?: number;
      reveals?: (result: T) => [string, bigint][];
      /** what a committed statement whose answer was lost throws (default DATABASE_UNAVAILABLE) */
      lostAnswer?: (result: T, cause: IdError) => unknown;
    } = {},
  ): Promise<T> {
    const sentAt = this.time.now;
    const runAt = Math.max(sentAt, this.stalledUntil) + this.rng.int(0, 3);
    const fault = this.rng.chance(this.faults.failRate) ? (this.rng.chance(0.5) ? 'before' : 'after') : null;
    const answerDelay = this.rng.int(0, 3);
    const timeoutMs = opts.timeoutMs ?? this.faults.statementTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      let answered = false;
      const answer = (fn: () => void) => {
        if (answered) return;
        answered = true;
        fn();
      };
      this.time.schedule(timeoutMs, () => answer(() => reject(unavailable(`statement timeout (${what})`))));
      this.time.schedule(runAt - sentAt, () => {
        if (this.time.now < this.movingUntil || this.time.now < this.stalledUntil || this.time.now < (this.cutOffUntil.get(who) ?? 0)) {
          // a statement that reaches a database in the middle of a move fails without effect
          this.time.schedule(answerDelay, () => answer(() => reject(unavailable(`connection lost (${what})`))));
          return;
        }
        if (fault === 'before') {
          this.time.schedule(answerDelay, () => answer(() => reject(unavailable(`failed before running (${what})`))));
          return;
        }
        let result: T;
        try {
          result = work(this.state);
        } catch (e) {
          this.time.schedule(answerDelay, () => answer(() => reject(e)));
          return;
        }
        if (write) {
          const seq = ++this.commitSeq;
          this.commits.set(seq, { seq, at: this.time.now, who, what, lost: false, server: this.server });
          if (this.reignFrom === undefined && this.keepsOfReign?.(this.commits.get(seq)!)) this.reignFrom = seq;
          if (this.protectsThrough?.(this.commits.get(seq)!)) {
            this.protectedUntil = Math.max(this.protectedUntil, this.time.now + 1);
            this.protectsThrough = undefined;
          }
          this.snapshot();
          if (fault === 'after') this.trace(`db ${this.name}: ${who} ${what} committed (#${seq}) but its answer is lost`);
        }
        const ranAt = this.time.now;
        this.time.schedule(answerDelay, () =>
          answer(() => {
            if (fault === 'after') {
              const lost = unavailable(`answer lost after commit (${what})`);
              // what the lost-answer error still tells its asker counts as seen
              if (opts.lostAnswer && opts.reveals) this.onAnswer?.(who, opts.reveals(result), ranAt, this.time.now);
              reject(opts.lostAnswer ? opts.lostAnswer(result, lost) : lost);
              return;
            }
            if (opts.reveals) this.onAnswer?.(who, opts.reveals(result), ranAt, this.time.now);
            resolve(result);
          }),
        );
      });
    });
  }
}

function unavailable(why: string): IdError {
  return new IdError('DATABASE_UNAVAILABLE', `database unavailable: ${why}`);
}

function rowOf(s: DbState, key: string): SegmentKeyRow | null {
  const k = s.keys.get(key);
  if (k === undefined) return null;
  const m = s.meta.get(key);
  return {
    key,
    maxId: k.maxId.toString(),
    step: k.step,
    description: k.description,
    updatedAt: '2026-01-01T00:00:00.000Z',
    public: m?.public ?? false,
    skipSeq: m?.skipSeq ?? 0,
    highWater: (m?.highWater ?? 0n).toString(),
    format: m?.format ?? null,
    metaRow: m !== undefined,
  };
}

/** the listings' NOT LIKE '%~%': period keys left out */
const listed = (key: string) => !key.includes('~');

function rowsRevealed(rows: SegmentKeyRow | SegmentKeyRow[] | null): [string, bigint][] {
  if (rows === null) return [];
  return (Array.isArray(rows) ? rows : [rows]).map((r) => [r.key, BigInt(r.maxId)]);
}

function metaOf(s: DbState, key: string): MetaState {
  let m = s.meta.get(key);
  if (m === undefined) {
    m = { public: false, skipSeq: 0, highWater: 0n };
    s.meta.set(key, m);
  }
  return m;
}

/**
 * A fetch's mark, in its statement: UPDATE id_segment_meta SET high_water = GREATEST(high_water, ?)
 * of the key's meta row, if it has one (a key made by hand or by an older version has none: the
 * poll's raiseMarks makes it).
 */
function raiseMark(s: DbState, key: string, maxId: bigint): void {
  const m = s.meta.get(key);
  if (m !== undefined && maxId > m.highWater) m.highWater = maxId;
}

/**
 * UPDATE id_segment_change SET seq = seq + 1, token = token ^ ? WHERE id = 1, in the transaction
 * (or the multi-table UPDATE) of the write. The random token is drawn from the commit number
 * (unique over the run, lost commits included), so a lost write and a later one differ.
 */
function bump(s: DbState, commitSeq: number): bigint {
  const token = (BigInt(commitSeq) * 0x9e3779b97f4a7c15n) & ((1n << 62n) - 1n);
  s.change = { seq: s.change.seq + 1n, token: s.change.token ^ token };
  return token;
}

/** Observers of fetches, for the checker: which commit handed which range to whom. */
export interface FetchObserver {
  fetched(who: string, key: string, maxId: bigint, step: number, commitSeq: number, sentAt: number): void;
}

/**
 * SegmentStore over the simulated tables, one per instance (so the trace names who sent what).
 * Each method models the MySQL store's statement of the same name.
 */
export class SimSegmentStore implements SegmentStore {
  readonly table = SegmentTable.ours();
  private readonly own = new OwnFetches();

  constructor(
    private readonly db: SimDatabase,
    private readonly who: string,
    private readonly time: VirtualTime,
    private readonly observer: FetchObserver,
  ) {}

  /**
   * UPDATE leaf_alloc a JOIN id_segment_change c ON c.id = 1 LEFT JOIN id_segment_meta m ON m.biz_tag = ?
   * SET a.max_id = LAST_INSERT_ID(a.max_id + ?), c.seq = c.seq + 1, c.token = c.token ^ ?,
   * m.high_water = GREATEST(m.high_water, ...) WHERE a.biz_tag = ? AND a.max_id <= MAX - ?: the
   * fetch, its bump of the change row and its mark in one statement; the mark only where the key
   * has a meta row (the poll marks the others). Modelled exact (the new max_id), the least
   * MySQL's unordered assignments may leave (they may leave one step more).
   */
  fetch(key: string, step: number): Promise<bigint> {
    const sentAt = this.time.now;
    let seq = 0;
    let token = 0n;
    return this.db
      .exec(this.who, `fetch ${key} +${step}`, true, (s) => {
        const k = s.keys.get(key);
        if (k === undefined) throw unknownKey(key);
        if (k.maxId > MAX_ID - BigInt(step)) throw exhausted(key, step);
        k.maxId += BigInt(step);
        raiseMark(s, key, k.maxId);
        seq = this.db.nextCommitSeq;
        token = bump(s, seq);
        return k.maxId;
      }, { reveals: (maxId) => [[key, maxId]] })
      .then((maxId) => {
        this.own.add(token);
        this.observer.fetched(this.who, key, maxId, step, seq, sentAt);
        this.db.trace(`${this.who}: fetched ${key} [${maxId - BigInt(step)}, ${maxId}) (#${seq})`);
        return maxId;
      });
  }

  /**
   * The MySQL store's batched first fetch: one transaction (rows locked, one multi-table UPDATE
   * with CASE bumping the change row once, the marks of keys with a meta row raised to their new
   * max_ids). A key's own refusal answers that key; the rest commit
   * together, or are lost together, and a lost answer fails every key of the batch.
   */
  /**
   * The MySQL store's batched first fetch. Keys just looked up (`seen`) first by compare-and-set,
   * one statement per step: each key's row moved only if it still reads what the lookup read
   * (max_id, a meta row or none); every key matched, their ranges. Otherwise the keys that
   * matched move all the same (their ranges wasted) and the locked transaction follows: rows
   * locked, one multi-table UPDATE with CASE bumping the change row once, the marks of keys with
   * a meta row raised to their new max_ids. The two are modelled as one statement (one bump):
   * what lies between them (wasted ranges committed, the locked fetch failing) is a gap and a
   * failed batch, as any. A batch of several steps is modelled as the locked fetch alone. A
   * key's own refusal answers that key; the rest commit together, or are lost together, and a
   * lost answer fails every key of the batch.
   */
  fetchMany(requests: FetchRequest[]): Promise<FetchOutcome[]> {
    if (requests.length === 0) return Promise.resolve([]);
    const step = requests[0].step;
    const compare = requests.every((r) => r.seen !== undefined && r.step === step && BigInt(r.seen.maxId) <= MAX_ID - BigInt(step));
    const sentAt = this.time.now;
    let seq = 0;
    let token = 0n;
    let missed = false;
    const what = `fetch many ${requests.map((r) => `${r.key}${compare ? `@${r.seen!.maxId}` : ''} +${r.step}`).join(',')}`;
    return this.db
      .exec(this.who, what, true, (s) => {
        seq = this.db.nextCommitSeq;
        if (compare) {
          const matched = requests.filter((r) => s.keys.get(r.key)?.maxId.toString() === r.seen!.maxId && s.meta.has(r.key) === r.seen!.metaRow);
          for (const r of matched) {
            const k = s.keys.get(r.key)!;
            k.maxId += BigInt(r.step);
            raiseMark(s, r.key, k.maxId);
          }
          if (matched.length > 0) token = bump(s, seq);
          if (matched.length === requests.length) return requests.map((r): FetchOutcome => s.keys.get(r.key)!.maxId);
          missed = true;
        }
        const outcomes = requests.map((r): FetchOutcome => {
          const k = s.keys.get(r.key);
          if (k === undefined) return unknownKey(r.key);
          if (k.maxId > MAX_ID - BigInt(r.step)) return exhausted(r.key, r.step);
          k.maxId += BigInt(r.step);
          raiseMark(s, r.key, k.maxId);
          return k.maxId;
        });
        if (token === 0n && outcomes.some((o) => typeof o === 'bigint')) token = bump(s, seq);
        return outcomes;
      }, { reveals: (outcomes) => outcomes.flatMap((o, i): [string, bigint][] => (typeof o === 'bigint' ? [[requests[i].key, o]] : [])) })
      .then((outcomes) => {
        if (token !== 0n) this.own.add(token);
        if (missed) this.db.trace(`${this.who}: compare-and-set fetch missed a key moved since its lookup (#${seq}): fetched under the lock`);
        outcomes.forEach((o, i) => {
          if (typeof o !== 'bigint') return;
          const { key, step } = requests[i];
          this.observer.fetched(this.who, key, o, step, seq, sentAt);
          this.db.trace(`${this.who}: fetched ${key} [${o - BigInt(step)}, ${o}) (#${seq}, ${compare && !missed ? 'compare-and-set' : 'batched'})`);
        });
        return outcomes;
      });
  }

  find(key: string): Promise<SegmentKeyRow | null> {
    return this.db.exec(this.who, `find ${key}`, false, (s) => rowOf(s, key), { reveals: rowsRevealed });
  }

  /** the poll's SELECT ... WHERE biz_tag IN (...): one consistent read */
  findMany(keys: string[]): Promise<SegmentKeyRow[]> {
    return this.db.exec(
      this.who,
      `read ${keys.join(',')}`,
      false,
      (s) => keys.map((k) => rowOf(s, k)).filter((r): r is SegmentKeyRow => r !== null),
      { reveals: rowsRevealed },
    );
  }

  /** SELECT seq, token FROM id_segment_change WHERE id = 1 (the idle poll's one read) */
  readChanges(): Promise<ChangeMark> {
    return this.db.exec(this.who, 'read changes', false, (s) => ({ ...s.change }));
  }

  ownFetches(): ChangeMark {
    return this.own.mark;
  }

  /** SELECT ... WHERE biz_tag > ? AND biz_tag LIKE 'prefix%' ORDER BY biz_tag LIMIT ? */
  listPage(after: string | null, limit: number, prefix: string | null): Promise<SegmentKeyRow[]> {
    return this.db.exec(this.who, 'list page', false, (s) =>
      [...s.keys.keys()]
        .filter((k) => listed(k) && (after === null || k > after) && (prefix === null || k.startsWith(prefix)))
        .sort()
        .slice(0, limit)
        .map((k) => rowOf(s, k)!),
    );
  }

  list(): Promise<SegmentKeyRow[]> {
    return this.db.exec(this.who, 'list', false, (s) => [...s.keys.keys()].filter(listed).sort().map((k) => rowOf(s, k)!), { reveals: rowsRevealed });
  }

  /** one transaction: the mark check, the row and its meta */
  create(row: NewSegmentKey): Promise<SegmentKeyRow> {
    return this.db.exec(this.who, `create ${row.key} at ${row.startId}`, true, (s) => {
      if (s.keys.has(row.key)) throw keyExists(row.key);
      const smallest = smallestStart(s.meta.get(row.key)?.highWater ?? 0n, row.markMargin);
      if (row.startId < smallest) throw belowMark(row.key, smallest);
      s.keys.set(row.key, { maxId: row.startId, step: row.step, description: row.description });
      metaOf(s, row.key).public = row.public;
      metaOf(s, row.key).format = row.format ?? null;
      bump(s, this.db.nextCommitSeq);
      return rowOf(s, row.key)!;
    });
  }

  raiseMarks(marks: { key: string; highWater: bigint }[]): Promise<void> {
    if (marks.length === 0) return Promise.resolve();
    return this.db.exec(this.who, `raise marks ${marks.map((m) => `${m.key}>=${m.highWater}`).join(',')}`, true, (s) => {
      for (const m of marks) {
        const meta = metaOf(s, m.key);
        if (m.highWater > meta.highWater) meta.highWater = m.highWater;
      }
    });
  }

  publishTargets(instanceId: string, targets: PublishedTarget[]): Promise<void> {
    return this.db.exec(this.who, `publish ${targets.map((t) => `${t.key}>=${t.target}`).join(',')}`, true, (s) => {
      for (const t of targets) s.halts.set(`${instanceId}|${t.key}`, { key: t.key, target: t.target, seenAt: this.time.now });
    });
  }

  /** SELECT DISTINCT biz_tag FROM id_segment_halt WHERE biz_tag LIKE '%~%' AND seen_at >= now - ? */
  haltedPeriodKeys(withinMs: number): Promise<string[]> {
    return this.db.exec(this.who, 'halted period keys', false, (s) =>
      [...new Set([...s.halts.values()].filter((h) => h.key.includes('~') && h.seenAt >= this.time.now - withinMs).map((h) => h.key))].sort(),
    );
  }

  /** SELECT MAX(biz_tag) ... WHERE biz_tag LIKE 'base~%' */
  newestPeriodKey(base: string): Promise<string | null> {
    return this.db.exec(this.who, `newest period key of ${base}`, false, (s) => {
      const keys = [...s.keys.keys()].filter((k) => k.startsWith(`${base}~`)).sort();
      return keys.length === 0 ? null : keys[keys.length - 1];
    });
  }

  requiredTargets(keys: string[], withinMs: number): Promise<Map<string, bigint>> {
    return this.db.exec(this.who, 'required targets', false, (s) => {
      const found = new Map<string, bigint>();
      for (const h of s.halts.values()) {
        if (!keys.includes(h.key) || h.seenAt < this.time.now - withinMs) continue;
        const known = found.get(h.key);
        if (known === undefined || h.target > known) found.set(h.key, h.target);
      }
      return found;
    });
  }

  update(key: string, patch: { step?: number; description?: string | null; public?: boolean; format?: string | null }): Promise<SegmentKeyRow | null> {
    return this.db.exec(this.who, `update ${key} ${JSON.stringify(patch)}`, true, (s) => {
      const k = s.keys.get(key);
      if (k === undefined) return null;
      if (patch.step !== undefined) k.step = patch.step;
      if (patch.description !== undefined) k.description = patch.description;
      if (patch.public !== undefined) metaOf(s, key).public = patch.public;
      if (patch.format !== undefined) metaOf(s, key).format = patch.format;
      bump(s, this.db.nextCommitSeq);
      return rowOf(s, key);
    });
  }

  /** one transaction: max_id ahead (never back), skip_seq + 1, the mark raised */
  skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null> {
    const what = 'by' in target ? `skip ${key} by ${target.by}` : `skip ${key} to ${target.to}`;
    return this.db.exec(this.who, what, true, (s) => {
      const k = s.keys.get(key);
      if (k === undefined) return null;
      if ('by' in target) {
        if (k.maxId > MAX_ID - target.by) throw skipPastMax(key);
        k.maxId += target.by;
      } else {
        if (k.maxId >= target.to) throw skipBackwards(key, k.maxId.toString(), target.to);
        k.maxId = target.to;
      }
      const m = metaOf(s, key);
      m.skipSeq++;
      if (k.maxId > m.highWater) m.highWater = k.maxId;
      bump(s, this.db.nextCommitSeq);
      return rowOf(s, key);
    });
  }

  /**
   * An operator's hand-written DELETE FROM leaf_alloc (the service has no delete route): it does
   * not bump the change row; the poll needs no news of a delete (the next fetch answers UNKNOWN_KEY).
   */
  deleteRow(key: string): Promise<void> {
    return this.db.exec(this.who, `DELETE ${key}`, true, (s) => {
      s.keys.delete(key);
    });
  }
}

/** Partition fetches, for the checker. */
export interface AllocationObserver {
  allocated(who: string, idx: number, n: bigint, commitSeq: number, sentAt: number): void;
}

/** PartitionStore over one partition's simulated database; each method models the MySQL store's. */
export class SimPartitionStore implements PartitionStore {
  constructor(
    readonly idx: number,
    private readonly db: SimDatabase,
    private readonly who: string,
    private readonly time: VirtualTime,
    private readonly observer: AllocationObserver,
  ) {}

  private table(s: DbState): PartitionTable {
    let t = s.partitions.get(this.idx);
    if (t === undefined) {
      t = { lastId: 0n, layouts: [] };
      s.partitions.set(this.idx, t);
    }
    return t;
  }

  /**
   * One transaction: SELECT MAX(version) ... LOCK IN SHARE MODE, REPLACE INTO partition_N, COMMIT.
   * A commit whose answer is lost after the REPLACE answered: AllocationUnverified with its number.
   */
  async allocate(): Promise<{ n: bigint; version: number }> {
    const sentAt = this.time.now;
    let seq = 0;
    const answer = await this.db.exec(
      this.who,
      `allocate p${this.idx}`,
      true,
      (s) => {
        const t = this.table(s);
        const ls = t.layouts;
        t.lastId += 1n;
        seq = this.db.nextCommitSeq;
        return { n: t.lastId - 1n, version: ls.length === 0 ? 0 : ls[ls.length - 1].version };
      },
      {
        reveals: (a) => [[`p${this.idx}`, a.n]],
        lostAnswer: (a, e) => new AllocationUnverified(a.n, e),
      },
    );
    this.observer.allocated(this.who, this.idx, answer.n, seq, sentAt);
    this.db.trace(`${this.who}: allocated p${this.idx} n=${answer.n} (#${seq})`);
    return answer;
  }

  current(): Promise<bigint> {
    return this.db.exec(this.who, `current p${this.idx}`, false, (s) => this.table(s).lastId - 1n, { reveals: (n) => [[`p${this.idx}`, n]] });
  }

  readLayout(completeBelow?: number): Promise<PartitionLayout | null> {
    return this.db.exec(this.who, `read layout p${this.idx}`, false, (s) => {
      const ls = this.table(s).layouts.filter((l) => completeBelow === undefined || (l.version < completeBelow && l.complete));
      if (ls.length === 0) return null;
      const { skips: _skips, ...layout } = ls[ls.length - 1];
      return { ...layout };
    });
  }

  insertLayout(layout: PartitionLayout): Promise<void> {
    return this.db.exec(this.who, `insert layout p${this.idx} v${layout.version}`, true, (s) => {
      const ls = this.table(s).layouts;
      if (ls.some((l) => l.version === layout.version)) return; // ER_DUP_ENTRY: ignored, read back
      ls.push({ ...layout, skips: 0n });
    });
  }

  fence(fence: LayoutFence, expected: number): Promise<bigint> {
    return this.db.exec(this.who, `fence p${this.idx} v${fence.version}`, true, (s) => {
      const t = this.table(s);
      const found = t.layouts.length === 0 ? 0 : t.layouts[t.layouts.length - 1].version;
      if (found !== expected) throw new IdError('VALIDATION_FAILED', `partition ${this.idx}: layout version ${found}, expected ${expected}`);
      t.lastId += 1n;
      const last = t.lastId - 1n;
      t.layouts.push({ version: fence.version, idx: this.idx, layoutId: fence.layoutId, total: fence.total, segmentSize: fence.segmentSize, base: 0n, first: last + 1n, complete: false, skips: 0n });
      return last;
    });
  }

  completeLayout(version: number, base: bigint): Promise<void> {
    return this.db.exec(this.who, `complete layout p${this.idx} v${version}`, true, (s) => {
      const l = this.table(s).layouts.find((x) => x.version === version);
      if (l) {
        l.base = base;
        l.complete = true;
      }
    });
  }

  /** one transaction: the layout row locked, MAX(id) checked, the counter moved, skips + 1 */
  skipTo(next: bigint): Promise<void> {
    return this.db.exec(this.who, `skip p${this.idx} to allocation ${next}`, true, (s) => {
      const t = this.table(s);
      const current = t.lastId - 1n;
      if (next <= current) throw partitionSkipBackwards(this.idx, current, next);
      t.lastId = next;
      const latest = t.layouts[t.layouts.length - 1];
      if (latest) latest.skips += 1n;
    });
  }

  poll(): Promise<PartitionPollAnswer> {
    return this.db.exec(this.who, `poll p${this.idx}`, false, (s) => {
      const t = this.table(s);
      const latest = t.layouts[t.layouts.length - 1];
      if (latest === undefined) return { version: 0, skips: 0n, last: -1n };
      return { version: latest.version, skips: latest.skips, last: t.lastId - 1n };
    }, { reveals: (a) => [[`p${this.idx}`, a.last]] });
  }
}
