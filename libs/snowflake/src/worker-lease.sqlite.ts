import type { Database } from 'better-sqlite3';
import type { DataSource } from 'typeorm';
import { sqliteWriterFor, SqliteWriterThread } from '@app/database';
import { AcquiredWorker, Claimant, toWorkerHolder, WorkerHolder, WorkerLeaseStore } from './worker-lease';

// SQLite's clock in Unix ms (the host's: SQLite serves processes of one host only).
const DB_NOW = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`;
const FREE = `(instance_id IS NULL OR heartbeat IS NULL OR heartbeat < ${DB_NOW} - ?)`;
const LAPSED = `(instance_id IS NOT NULL AND (heartbeat IS NULL OR heartbeat < ${DB_NOW} - ?))`;

/**
 * worker_node on the embedded SQLite file, through better-sqlite3's own handle under TypeORM
 * (its statements are synchronous and short; SQLite serialises writers, so each conditional
 * UPDATE ... RETURNING is atomic across the processes sharing the file).
 */
export class SqliteWorkerLeaseStore implements WorkerLeaseStore {
  /**
   * the renewal, once a second for the life of the process, commits off the event loop; the
   * release goes the same way, so it runs after any renewal still queued there
   */
  private readonly writer: SqliteWriterThread;

  constructor(
    private readonly dataSource: DataSource,
    writer?: SqliteWriterThread,
  ) {
    this.writer = writer ?? sqliteWriterFor(dataSource);
  }

  private db(): Database {
    const db = (this.dataSource.driver as unknown as { databaseConnection?: Database }).databaseConnection;
    if (!db || !db.open) throw new Error('the SQLite database is closed');
    return db;
  }

  async countRows(from: number, to: number): Promise<number> {
    const row = this.db().prepare('SELECT COUNT(*) AS n FROM worker_node WHERE worker_id BETWEEN ? AND ?').get(from, to) as { n: number };
    return Number(row.n);
  }

  async seed(from: number, to: number): Promise<void> {
    this.db()
      .prepare(
        `INSERT OR IGNORE INTO worker_node (worker_id, reserved_until)
         WITH RECURSIVE ids(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM ids WHERE x < ?) SELECT x, 0 FROM ids`,
      )
      .run(from, to);
  }

  async acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null> {
    // never-held and cleanly released rows first: a lapsed one costs the takeover wait
    for (const [which, takenOver] of [
      ['instance_id IS NULL', false],
      [LAPSED, true],
    ] as const) {
      const args = takenOver ? [leaseMs] : [];
      const row = this.db()
        .prepare(
          `UPDATE worker_node
              SET instance_id = ?, host = ?, pid = ?, heartbeat = ${DB_NOW}, acquired_at = ${DB_NOW}
            WHERE worker_id = (SELECT worker_id FROM worker_node
                                WHERE worker_id BETWEEN ? AND ? AND ${which}
                                ORDER BY MAX(reserved_until, ?), random() LIMIT 1)
              AND ${which}
            RETURNING worker_id, reserved_until`,
        )
        .get(c.instanceId, c.host, c.pid, from, to, ...args, nowMs, ...args) as { worker_id: number; reserved_until: number } | undefined;
      if (row) return { workerId: Number(row.worker_id), reservedUntil: Number(row.reserved_until), takenOver };
    }
    return null;
  }

  async claim(workerId: number, c: Claimant, leaseMs: number): Promise<AcquiredWorker | null> {
    for (const [which, takenOver] of [
      ['(instance_id IS NULL OR instance_id = ?)', false],
      [LAPSED, true],
    ] as const) {
      const row = this.db()
        .prepare(
          `UPDATE worker_node
              SET instance_id = ?, host = ?, pid = ?, heartbeat = ${DB_NOW}, acquired_at = ${DB_NOW}
            WHERE worker_id = ? AND ${which}
            RETURNING worker_id, reserved_until`,
        )
        .get(c.instanceId, c.host, c.pid, workerId, takenOver ? leaseMs : c.instanceId) as
        | { worker_id: number; reserved_until: number }
        | undefined;
      if (row) return { workerId: Number(row.worker_id), reservedUntil: Number(row.reserved_until), takenOver };
    }
    return null;
  }

  async inspect(workerId: number): Promise<WorkerHolder | null> {
    const r = this.db()
      .prepare(`SELECT worker_id, instance_id, host, pid, reserved_until, ${DB_NOW} - heartbeat AS age_ms FROM worker_node WHERE worker_id = ?`)
      .get(workerId) as Record<string, any> | undefined;
    return r ? toWorkerHolder(r) : null;
  }

  async renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean> {
    const sql = `UPDATE worker_node SET heartbeat = ${DB_NOW}, reserved_until = MAX(reserved_until, ?)
          WHERE worker_id = ? AND instance_id = ?`;
    const params = [untilMs, workerId, instanceId];
    this.db(); // closed database: fail as before
    return (await this.writer.run(sql, params)) === 1;
  }

  async release(workerId: number, instanceId: string, untilMs: number): Promise<void> {
    this.db(); // closed database: fail as before
    await this.writer.run('UPDATE worker_node SET instance_id = NULL, heartbeat = NULL, reserved_until = ? WHERE worker_id = ? AND instance_id = ?', [
      untilMs,
      workerId,
      instanceId,
    ]);
  }

  async observe(from: number, to: number, leaseMs: number): Promise<{ free: number; dbNowMs: number }> {
    const row = this.db()
      .prepare(`SELECT (SELECT COUNT(*) FROM worker_node WHERE worker_id BETWEEN ? AND ? AND ${FREE}) AS free, ${DB_NOW} AS now_ms`)
      .get(from, to, leaseMs) as { free: number; now_ms: number };
    return { free: Number(row.free), dbNowMs: Number(row.now_ms) };
  }
}
