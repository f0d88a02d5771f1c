/**
 * worker_node over the simulated database: the WorkerLeaseStore the real WorkerLease runs on,
 * each method a model of the MySQL statement of the same name (worker-lease.mysql.ts), run
 * through SimDatabase.exec (so it can stall, fail before or after committing, and be lost in a
 * failover). The database's clock is the true virtual time; heartbeats are in it.
 */
import { judgeLeaseWriters, UNRECORDED_WRITERS } from '../libs/snowflake/src/worker-lease';
import type { AcquiredWorker, Claimant, WorkerHolder, WorkerLeaseStore, WriterRecord } from '../libs/snowflake/src/worker-lease';
import type { DbState, SimDatabase } from './sim-database';
import type { VirtualTime } from './virtual-time';

type Row = DbState['workers'] extends Map<number, infer R> ? R : never;

export class SimWorkerLeaseStore implements WorkerLeaseStore {
  private dead = false;

  /** the process crashed: nothing more is sent (statements already sent still run) */
  die(): void {
    this.dead = true;
  }

  constructor(
    private readonly db: SimDatabase,
    private readonly who: string,
    private readonly time: VirtualTime,
  ) {}

  /** SELECT COUNT(*) FROM worker_node WHERE worker_id BETWEEN ? AND ? */
  countRows(from: number, to: number): Promise<number> {
    return this.exec( `count workers ${from}-${to}`, false, (s) => [...s.workers.keys()].filter((id) => id >= from && id <= to).length);
  }

  /** INSERT IGNORE ... (worker_id, 0): missing rows only */
  seed(from: number, to: number): Promise<void> {
    return this.exec( `seed workers ${from}-${to}`, true, (s) => {
      for (let id = from; id <= to; id++) if (!s.workers.has(id)) s.workers.set(id, { instanceId: null, heartbeatAt: null, reservedUntil: 0, acquiredAt: null });
    });
  }

  /**
   * Two conditional UPDATEs, each one statement: a row with no holder, else a lapsed one
   * (heartbeat older than leaseMs by the database's clock); ORDER BY GREATEST(reserved_until, now),
   * RAND() LIMIT 1. Then the read of the row just taken (a statement of its own).
   */
  acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null> {
    return this.take('acquire a worker', c, (s, takenOver, dbNow) =>
      [...s.workers.entries()]
        .filter(([id, r]) => id >= from && id <= to && (takenOver ? r.instanceId !== null && lapsed(r, dbNow, leaseMs) : r.instanceId === null))
        .map(([id, r]) => ({ id, order: Math.max(r.reservedUntil, nowMs), rand: this.db.rand() }))
        .sort((a, b) => a.order - b.order || a.rand - b.rand)[0]?.id,
    );
  }

  /**
   * Two conditional UPDATEs of one row (worker.entity's claim): free or already ours, else lapsed
   * (a takeover); then the read of the row just taken (a statement of its own).
   */
  claim(workerId: number, c: Claimant, leaseMs: number): Promise<AcquiredWorker | null> {
    return this.take(`claim worker ${workerId}`, c, (s, takenOver, dbNow) => {
      const r = s.workers.get(workerId);
      if (r === undefined) return undefined;
      return (takenOver ? r.instanceId !== null && lapsed(r, dbNow, leaseMs) : r.instanceId === null || r.instanceId === c.instanceId) ? workerId : undefined;
    });
  }

  /** the row `pick` names (a free one, then a lapsed one: takenOver) taken for c, then read back */
  private async take(what: string, c: Claimant, pick: (s: DbState, takenOver: boolean, dbNow: number) => number | undefined): Promise<AcquiredWorker | null> {
    for (const takenOver of [false, true]) {
      const taken = await this.exec(`${what}${takenOver ? ' (lapsed)' : ''}`, true, (s) => {
        const id = pick(s, takenOver, this.time.now);
        if (id === undefined) throw new NothingTaken();
        const row = s.workers.get(id)!;
        row.instanceId = c.instanceId;
        row.heartbeatAt = this.time.now;
        row.acquiredAt = this.time.now;
        return id;
      }).catch((e) => {
        if (e instanceof NothingTaken) return null;
        throw e;
      });
      if (taken !== null) {
        const row = await this.exec(`read worker ${taken}`, false, (s) => {
          const r = s.workers.get(taken);
          return r !== undefined && r.instanceId === c.instanceId ? { reservedUntil: r.reservedUntil } : null;
        });
        return row === null ? null : { workerId: taken, reservedUntil: row.reservedUntil, takenOver };
      }
    }
    return null;
  }

  private exec<T>(what: string, write: boolean, work: (s: DbState) => T): Promise<T> {
    // a dead process sends nothing and hears nothing: its lease's timers stop at their next step
    if (this.dead) return new Promise<T>(() => undefined);
    return this.db.exec(this.who, what, write, work);
  }

  inspect(workerId: number): Promise<WorkerHolder | null> {
    return this.exec( `inspect worker ${workerId}`, false, (s) => {
      const r = s.workers.get(workerId);
      if (r === undefined) return null;
      return {
        workerId,
        instanceId: r.instanceId,
        host: null,
        pid: null,
        heartbeatAgeMs: r.heartbeatAt === null ? null : this.time.now - r.heartbeatAt,
        reservedUntil: r.reservedUntil,
      };
    });
  }

  /** UPDATE ... SET heartbeat = now, reserved_until = GREATEST(reserved_until, ?) WHERE worker_id = ? AND instance_id = ? */
  renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean> {
    return this.exec( `renew worker ${workerId} to ${untilMs}`, true, (s) => {
      const r = s.workers.get(workerId);
      if (r === undefined || r.instanceId !== instanceId) return false;
      r.heartbeatAt = this.time.now;
      r.reservedUntil = Math.max(r.reservedUntil, untilMs);
      return true;
    });
  }

  /** UPDATE ... SET instance_id = NULL, reserved_until = GREATEST(reserved_until, ?) WHERE worker_id = ? AND instance_id = ? */
  release(workerId: number, instanceId: string, untilMs: number): Promise<void> {
    return this.exec( `release worker ${workerId} at ${untilMs}`, true, (s) => {
      const r = s.workers.get(workerId);
      if (r === undefined || r.instanceId !== instanceId) return;
      r.instanceId = null;
      r.heartbeatAt = null;
      r.reservedUntil = Math.max(r.reservedUntil, untilMs);
    });
  }

  /**
   * recordLeaseWriter: which server (one statement), INSERT IGNORE of "lease writer <server>"
   * with the database clock, one SELECT of every writer record, the clock and the oldest
   * acquired_at, judged by the real judgeLeaseWriters, and the writes it asks for.
   */
  async writerSince(slackMs: number): Promise<WriterRecord> {
    const server = await this.exec('which server', false, () => this.db.server);
    const name = `lease writer ${server}`;
    // INSERT IGNORE of a present row writes nothing (no commit a failover could keep or lose)
    const insertIfAbsent = (record: string) =>
      this.exec(`record ${record}`, true, (s) => {
        if (s.leaseWriters.has(record)) throw new NothingTaken();
        s.leaseWriters.set(record, this.time.now);
      }).catch((e) => {
        if (!(e instanceof NothingTaken)) throw e;
      });
    await insertIfAbsent(name);
    const read = await this.exec('read lease writers', false, (s) => {
      const acquired = [...s.workers.values()].flatMap((r) => (r.acquiredAt === null ? [] : [r.acquiredAt]));
      return {
        writers: [...s.leaseWriters].map(([n, sinceMs]) => ({ name: n, sinceMs })),
        dbNowMs: this.time.now,
        oldestAcquiredMs: acquired.length === 0 ? null : Math.min(...acquired),
      };
    });
    const judged = judgeLeaseWriters({ me: name, ...read, slackMs });
    const set = (record: string, value: number) => this.exec(`set ${record} to ${value}`, true, (s) => void (s.leaseWriters.has(record) && s.leaseWriters.set(record, value)));
    if (judged.unrecorded !== null) {
      await insertIfAbsent(UNRECORDED_WRITERS);
      await set(UNRECORDED_WRITERS, judged.unrecorded);
    }
    if (judged.again) await set(name, judged.record.sinceMs);
    return judged.record;
  }
}

/** lapsed by the database's clock: a holder named, no heartbeat for leaseMs */
function lapsed(r: Row, dbNow: number, leaseMs: number): boolean {
  return r.heartbeatAt === null || r.heartbeatAt < dbNow - leaseMs;
}

/** the UPDATE matched no row: nothing written, nothing committed */
class NothingTaken extends Error {}
