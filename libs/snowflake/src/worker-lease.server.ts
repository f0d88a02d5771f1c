import { QueryOptions, SqlPool } from '@app/database';
import { AcquiredWorker, Claimant, WorkerHolder, WorkerLeaseStore, WriterRecord } from './worker-lease';

/** retried after an unknown outcome: a repeat re-takes or re-renews the same row for the same instance */
export const REPEATABLE: QueryOptions = { retryUnknown: true };

/**
 * What the MySQL and PostgreSQL worker_node stores share: the lease's own pool (one connection,
 * the same multi-host failover as the main pool, so a flood of statements on the shared pool
 * cannot delay a renewal; each statement with a deadline, so a silent database fails a renewal
 * quickly instead of hanging it) and the statements both write alike.
 */
export abstract class ServerWorkerLeaseStore implements WorkerLeaseStore {
  constructor(protected readonly db: SqlPool) {}

  protected run(sql: string, values: unknown[] = [], options: QueryOptions = {}): Promise<any> {
    return this.db.query(sql, values, options);
  }

  async countRows(from: number, to: number): Promise<number> {
    const rows = await this.run('SELECT COUNT(*) AS n FROM worker_node WHERE worker_id BETWEEN ? AND ?', [from, to]);
    return Number(rows[0].n);
  }

  async release(workerId: number, instanceId: string, untilMs: number): Promise<void> {
    await this.run(
      'UPDATE worker_node SET instance_id = NULL, heartbeat = NULL, reserved_until = ? WHERE worker_id = ? AND instance_id = ?',
      [untilMs, workerId, instanceId],
      REPEATABLE,
    );
  }

  abstract seed(from: number, to: number): Promise<void>;
  abstract acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null>;
  abstract claim(workerId: number, c: Claimant, leaseMs: number): Promise<AcquiredWorker | null>;
  abstract inspect(workerId: number): Promise<WorkerHolder | null>;
  abstract renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean>;
  abstract writerSince(slackMs: number): Promise<WriterRecord>;
  abstract observe(from: number, to: number, leaseMs: number): Promise<{ free: number; dbNowMs: number }>;
}
