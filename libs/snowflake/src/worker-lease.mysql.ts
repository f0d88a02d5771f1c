import { WORKER_NODE, WorkerNodeRow } from '@app/database';
import { AcquiredWorker, Claimant, recordLeaseWriter, WriterRecord } from './worker-lease';
import { REPEATABLE, ServerWorkerLeaseStore } from './worker-lease.server';

/** the database clock in Unix ms */
const NOW_MS = 'CAST(UNIX_TIMESTAMP(UTC_TIMESTAMP(3)) * 1000 AS SIGNED)';

/** worker_node on MySQL/MariaDB (the pool: ServerWorkerLeaseStore). Heartbeats are UTC_TIMESTAMP(3): no time zone or DST in them. */
export class MysqlWorkerLeaseStore extends ServerWorkerLeaseStore {
  protected readonly heartbeatAgeMs = 'TIMESTAMPDIFF(MICROSECOND, w.heartbeat, UTC_TIMESTAMP(3)) DIV 1000';
  protected readonly freeRow = '(w.instance_id IS NULL OR w.heartbeat IS NULL OR w.heartbeat < UTC_TIMESTAMP(3) - INTERVAL :lease MICROSECOND)';
  protected readonly nowMs = NOW_MS;
  protected leaseParam(leaseMs: number): number {
    return leaseMs * 1000;
  }

  async seed(from: number, to: number): Promise<void> {
    for (let start = from; start <= to; start += 500) {
      const end = Math.min(to, start + 499);
      const ids: number[] = [];
      for (let id = start; id <= end; id++) ids.push(id);
      await this.run(`INSERT IGNORE INTO worker_node (worker_id, reserved_until) VALUES ${ids.map(() => '(?, 0)').join(', ')}`, ids, REPEATABLE);
    }
  }

  async acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null> {
    // One conditional statement picks and takes the id; LAST_INSERT_ID(worker_id) hands back which.
    // Never-held and cleanly released rows first: a lapsed one costs the takeover wait.
    for (const takenOver of [false, true]) {
      const result = await this.run(
        this.cas.acquire(takenOver),
        [c.instanceId, c.host.slice(0, 255), c.pid, from, to, ...(takenOver ? [leaseMs * 1000] : []), nowMs],
        REPEATABLE, // a repeat after an unknown outcome takes another row; the first lapses unused
      );
      if (Number(result.affectedRows) === 1) return this.readTaken(Number(result.insertId), c.instanceId, takenOver);
    }
    return null;
  }

  async claim(workerId: number, c: Claimant, leaseMs: number): Promise<AcquiredWorker | null> {
    // ours already (a retried claim) or released: no takeover; a lapsed holder: takeover
    for (const takenOver of [false, true]) {
      const result = await this.run(
        this.cas.claim(takenOver),
        [c.instanceId, c.host.slice(0, 255), c.pid, workerId, takenOver ? leaseMs * 1000 : c.instanceId],
        REPEATABLE,
      );
      if (Number(result.affectedRows) === 1) return this.readTaken(workerId, c.instanceId, takenOver);
    }
    return null;
  }

  /** the row just taken, read back (MySQL's UPDATE answers no columns) */
  private async readTaken(workerId: number, instanceId: string, takenOver: boolean): Promise<AcquiredWorker | null> {
    const row = await this.read((m) => m.getRepository<WorkerNodeRow>(WORKER_NODE).findOneBy({ workerId, instanceId }));
    if (row === null) return null;
    return { workerId: Number(row.workerId), reservedUntil: Number(row.reservedUntil), takenOver };
  }

  async renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean> {
    const result = await this.run(this.cas.renew, [untilMs, workerId, instanceId], REPEATABLE);
    return Number(result.affectedRows) === 1;
  }

  /**
   * Which server takes lease writes, recorded in id_meta as "lease writer <server_id> <host>:<port>"
   * with the database clock when it first did (or came back: judgeLeaseWriters). The name is read
   * first and written as a literal: a statement naming @@server_id would be evaluated again on a
   * statement-based replica. On Galera (wsrep_on) the writer is the cluster, named by its state
   * UUID: every node holds every certified commit, so a switch of node loses no lease write and is
   * no move, while a cluster bootstrapped anew (another history) is one.
   */
  async writerSince(slackMs: number): Promise<WriterRecord> {
    const [me] = await this.run('SELECT @@server_id AS id, @@hostname AS host, @@port AS port');
    const wsrep = await this.run("SHOW VARIABLES LIKE 'wsrep_on'");
    let name = `lease writer ${me.id} ${me.host}:${me.port}`;
    if (String(wsrep[0]?.Value ?? 'OFF').toUpperCase() === 'ON') {
      const [cluster] = await this.run("SHOW STATUS LIKE 'wsrep_cluster_state_uuid'");
      if (cluster?.Value) name = `lease writer galera ${cluster.Value}`;
    }
    return recordLeaseWriter(
      (sql, values, options) => this.run(sql, values, options),
      name.slice(0, 64),
      {
        insertIfAbsent: `INSERT IGNORE INTO id_meta (name, value) VALUES (?, CAST(${NOW_MS} AS CHAR))`,
        nowMs: NOW_MS,
        // acquired_at is UTC_TIMESTAMP(3), read back the way NOW_MS reads the clock
        oldestAcquiredMs: 'SELECT CAST(UNIX_TIMESTAMP(MIN(acquired_at)) * 1000 AS SIGNED) FROM worker_node',
      },
      slackMs,
    );
  }
}
