import { MysqlPool } from '@app/database';
import type { DataSource } from 'typeorm';
import { AcquiredWorker, Claimant, toWorkerHolder, WorkerHolder, WorkerLeaseStore } from './worker-lease';

/** Errors worth one immediate retry: lock conflicts between instances acquiring at once. */
const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_DUP_ENTRY']);

// "Free" by the database's clock: no holder, or no heartbeat for leaseMs.
const FREE = `(instance_id IS NULL OR heartbeat IS NULL OR heartbeat < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND)`;

/**
 * worker_node on MySQL/MariaDB through mysql2's pool under TypeORM, each statement with a
 * per-query timeout (and a deadline of our own around it), so a silent database fails a renewal
 * quickly instead of hanging it. Heartbeats are UTC_TIMESTAMP(3): no time zone or DST in them.
 */
export class MysqlWorkerLeaseStore implements WorkerLeaseStore {
  private readonly db: MysqlPool;

  constructor(dataSource: DataSource, timeoutMs: number) {
    this.db = new MysqlPool(dataSource, timeoutMs);
  }

  private run(sql: string, values: unknown[] = []): Promise<any> {
    return this.db.query(sql, values);
  }

  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (!RETRYABLE.has(code) || attempt >= 5) throw e;
        await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 20 * attempt)));
      }
    }
  }

  async countRows(from: number, to: number): Promise<number> {
    const rows = await this.run('SELECT COUNT(*) AS n FROM worker_node WHERE worker_id BETWEEN ? AND ?', [from, to]);
    return Number(rows[0].n);
  }

  async seed(from: number, to: number): Promise<void> {
    for (let start = from; start <= to; start += 500) {
      const end = Math.min(to, start + 499);
      const ids: number[] = [];
      for (let id = start; id <= end; id++) ids.push(id);
      await this.retrying(() =>
        this.run(`INSERT IGNORE INTO worker_node (worker_id, reserved_until) VALUES ${ids.map(() => '(?, 0)').join(', ')}`, ids),
      );
    }
  }

  async acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null> {
    // One conditional statement picks and takes the id; LAST_INSERT_ID(worker_id) hands back which.
    const result = await this.retrying(() =>
      this.run(
        `UPDATE worker_node
            SET worker_id = LAST_INSERT_ID(worker_id), instance_id = ?, host = ?, pid = ?,
                heartbeat = UTC_TIMESTAMP(3), acquired_at = UTC_TIMESTAMP(3)
          WHERE worker_id BETWEEN ? AND ? AND ${FREE}
          ORDER BY GREATEST(reserved_until, ?), worker_id
          LIMIT 1`,
        [c.instanceId, c.host.slice(0, 255), c.pid, from, to, leaseMs * 1000, nowMs],
      ),
    );
    if (Number(result.affectedRows) !== 1) return null;
    return this.readTaken(Number(result.insertId), c.instanceId);
  }

  async claim(workerId: number, c: Claimant, leaseMs: number): Promise<AcquiredWorker | null> {
    const result = await this.retrying(() =>
      this.run(
        `UPDATE worker_node
            SET instance_id = ?, host = ?, pid = ?, heartbeat = UTC_TIMESTAMP(3), acquired_at = UTC_TIMESTAMP(3)
          WHERE worker_id = ? AND (instance_id = ? OR ${FREE})`,
        [c.instanceId, c.host.slice(0, 255), c.pid, workerId, c.instanceId, leaseMs * 1000],
      ),
    );
    if (Number(result.affectedRows) !== 1) return null;
    return this.readTaken(workerId, c.instanceId);
  }

  private async readTaken(workerId: number, instanceId: string): Promise<AcquiredWorker | null> {
    const rows = await this.run('SELECT worker_id, reserved_until FROM worker_node WHERE worker_id = ? AND instance_id = ?', [
      workerId,
      instanceId,
    ]);
    if (rows.length !== 1) return null;
    return { workerId: Number(rows[0].worker_id), reservedUntil: Number(rows[0].reserved_until) };
  }

  async inspect(workerId: number): Promise<WorkerHolder | null> {
    const rows = await this.run(
      `SELECT worker_id, instance_id, host, pid, reserved_until,
              TIMESTAMPDIFF(MICROSECOND, heartbeat, UTC_TIMESTAMP(3)) DIV 1000 AS age_ms
         FROM worker_node WHERE worker_id = ?`,
      [workerId],
    );
    return rows.length === 0 ? null : toWorkerHolder(rows[0]);
  }

  async renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean> {
    const result = await this.retrying(() =>
      this.run(
        `UPDATE worker_node SET heartbeat = UTC_TIMESTAMP(3), reserved_until = GREATEST(reserved_until, ?)
          WHERE worker_id = ? AND instance_id = ?`,
        [untilMs, workerId, instanceId],
      ),
    );
    return Number(result.affectedRows) === 1;
  }

  async release(workerId: number, instanceId: string): Promise<void> {
    await this.run(
      'UPDATE worker_node SET instance_id = NULL, heartbeat = NULL WHERE worker_id = ? AND instance_id = ?',
      [workerId, instanceId],
    );
  }

  async observe(from: number, to: number, leaseMs: number): Promise<{ free: number; dbNowMs: number }> {
    const rows = await this.run(
      `SELECT (SELECT COUNT(*) FROM worker_node WHERE worker_id BETWEEN ? AND ? AND ${FREE}) AS free,
              CAST(UNIX_TIMESTAMP(UTC_TIMESTAMP(3)) * 1000 AS SIGNED) AS now_ms`,
      [from, to, leaseMs * 1000],
    );
    return { free: Number(rows[0].free), dbNowMs: Number(rows[0].now_ms) };
  }
}
