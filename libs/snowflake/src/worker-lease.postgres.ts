import { AcquiredWorker, Claimant, recordLeaseWriter, WriterRecord } from './worker-lease';
import { REPEATABLE, ServerWorkerLeaseStore } from './worker-lease.server';

/** the database's clock; one value for the whole statement (not the transaction's start) */
const NOW = 'statement_timestamp()';
const NOW_MS = `CAST(EXTRACT(EPOCH FROM ${NOW}) * 1000 AS bigint)`;

interface Taken {
  worker_id: number;
  reserved_until: string;
}

/**
 * worker_node on PostgreSQL, the same compare-and-set rules as MysqlWorkerLeaseStore (the pool:
 * ServerWorkerLeaseStore; the statements: LEASE_STATEMENTS beside the WorkerNode entity).
 * Heartbeats are timestamptz: no time zone or DST in them.
 */
export class PgWorkerLeaseStore extends ServerWorkerLeaseStore {
  protected readonly heartbeatAgeMs = `CAST(FLOOR(EXTRACT(EPOCH FROM (${NOW} - w.heartbeat)) * 1000) AS bigint)`;
  protected readonly freeRow = `(w.instance_id IS NULL OR w.heartbeat IS NULL OR w.heartbeat < ${NOW} - CAST(:lease AS bigint) * interval '1 millisecond')`;
  protected readonly nowMs = NOW_MS;
  protected leaseParam(leaseMs: number): number {
    return leaseMs;
  }

  async seed(from: number, to: number): Promise<void> {
    await this.run(
      'INSERT INTO worker_node (worker_id, reserved_until) SELECT g, 0 FROM generate_series(CAST(? AS int), CAST(? AS int)) g ON CONFLICT (worker_id) DO NOTHING',
      [from, to],
      REPEATABLE,
    );
  }

  async acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null> {
    // Never-held and cleanly released rows first: a lapsed one costs the takeover wait.
    for (const takenOver of [false, true]) {
      const condition = takenOver ? [leaseMs] : [];
      const rows: Taken[] = await this.run(
        this.cas.acquire(takenOver),
        [c.instanceId, c.host.slice(0, 255), c.pid, from, to, ...condition, nowMs, ...condition],
        REPEATABLE, // a repeat after an unknown outcome takes another row; the first lapses unused
      );
      if (rows.length === 1) return { workerId: Number(rows[0].worker_id), reservedUntil: Number(rows[0].reserved_until), takenOver };
    }
    return null;
  }

  async claim(workerId: number, c: Claimant, leaseMs: number): Promise<AcquiredWorker | null> {
    // ours already (a retried claim) or released: no takeover; a lapsed holder: takeover
    for (const takenOver of [false, true]) {
      const rows: Taken[] = await this.run(
        this.cas.claim(takenOver),
        [c.instanceId, c.host.slice(0, 255), c.pid, workerId, takenOver ? leaseMs : c.instanceId],
        REPEATABLE,
      );
      if (rows.length === 1) return { workerId: Number(rows[0].worker_id), reservedUntil: Number(rows[0].reserved_until), takenOver };
    }
    return null;
  }

  async renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean> {
    const result = await this.run(this.cas.renew, [untilMs, workerId, instanceId], REPEATABLE);
    return Number(result.affectedRows) === 1;
  }

  /**
   * Which server takes lease writes, recorded in id_meta as "lease writer <address>:<port>
   * <cluster_name>" with the database clock when it first did. A promoted standby answers on
   * another address or port than the primary it replaces (physical replicas share the system
   * identifier, so that cannot tell them apart).
   */
  async writerSince(slackMs: number): Promise<WriterRecord> {
    const [me] = await this.run(
      "SELECT COALESCE(host(inet_server_addr()), 'local') AS host, COALESCE(inet_server_port(), 0) AS port, current_setting('cluster_name') AS cluster",
    );
    const name = `lease writer ${me.host}:${me.port} ${me.cluster}`.trim().slice(0, 64);
    return recordLeaseWriter(
      (sql, values, options) => this.run(sql, values, options),
      name,
      {
        insertIfAbsent: `INSERT INTO id_meta (name, value) VALUES (?, CAST(${NOW_MS} AS TEXT)) ON CONFLICT (name) DO NOTHING`,
        nowMs: NOW_MS,
        oldestAcquiredMs: 'SELECT CAST(EXTRACT(EPOCH FROM MIN(acquired_at)) * 1000 AS bigint) FROM worker_node',
      },
      slackMs,
    );
  }
}
