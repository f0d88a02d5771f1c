import { LEASE_STATEMENTS, LeaseStatements, QueryOptions, SqlPool, WORKER_NODE, WorkerNodeRow } from '@app/database';
import { Between, EntityManager, SelectQueryBuilder } from 'typeorm';
import { AcquiredWorker, Claimant, toWorkerHolder, WorkerHolder, WorkerLeaseStore, WriterRecord } from './worker-lease';

/** retried after an unknown outcome: a repeat re-takes or re-renews the same row for the same instance */
export const REPEATABLE: QueryOptions = { retryUnknown: true };

/**
 * What the MySQL and PostgreSQL worker_node stores share: the lease's own pool (one connection,
 * the same multi-host failover as the main pool, so a flood of statements on the shared pool
 * cannot delay a renewal; each statement with a deadline, so a silent database fails a renewal
 * quickly instead of hanging it) and the statements both write alike.
 *
 * The lease's compare-and-set statements (acquire, claim, renew, release: each one conditional
 * UPDATE whose WHERE is the guarantee) stay hand-written, once per dialect; the reads of the rows
 * (counts, a holder, the free count) go through TypeORM's query builder over the WorkerNode entity.
 */
export abstract class ServerWorkerLeaseStore implements WorkerLeaseStore {
  /** the compare-and-set statements, beside the WorkerNode entity */
  protected readonly cas: LeaseStatements;

  constructor(protected readonly db: SqlPool) {
    this.cas = LEASE_STATEMENTS[db.dialect];
  }

  protected run(sql: string, values: unknown[] = [], options: QueryOptions = {}): Promise<any> {
    return this.db.query(sql, values, options);
  }

  /** work on the worker_node repository; reads, so sent again after a lost connection */
  protected read<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.db.withManager(work, { repeatable: true });
  }

  protected rows(manager: EntityManager): SelectQueryBuilder<WorkerNodeRow> {
    return manager.getRepository<WorkerNodeRow>(WORKER_NODE).createQueryBuilder('w');
  }

  async countRows(from: number, to: number): Promise<number> {
    return this.read((m) => m.getRepository<WorkerNodeRow>(WORKER_NODE).countBy({ workerId: Between(from, to) }));
  }

  /** the heartbeat's age in ms by the database's clock (null: never held) */
  protected abstract readonly heartbeatAgeMs: string;
  /** a row free for the taking, with the lease length as the named parameter :lease */
  protected abstract readonly freeRow: string;
  /** the lease length as :lease binds it (MySQL's INTERVAL counts microseconds) */
  protected abstract leaseParam(leaseMs: number): number;
  /** the database's clock in Unix ms */
  protected abstract readonly nowMs: string;

  async inspect(workerId: number): Promise<WorkerHolder | null> {
    const row = await this.read((m) =>
      this.rows(m)
        .select('w.worker_id', 'worker_id')
        .addSelect('w.instance_id', 'instance_id')
        .addSelect('w.host', 'host')
        .addSelect('w.pid', 'pid')
        .addSelect('w.reserved_until', 'reserved_until')
        .addSelect(this.heartbeatAgeMs, 'age_ms')
        .where('w.worker_id = :workerId', { workerId })
        .getRawOne(),
    );
    return row === undefined ? null : toWorkerHolder(row);
  }

  async observe(from: number, to: number, leaseMs: number): Promise<{ free: number; dbNowMs: number }> {
    const [free, now] = await this.read(async (m) => {
      const count = this.rows(m)
        .select('COUNT(*)')
        .where('w.worker_id BETWEEN :from AND :to', { from, to })
        .andWhere(this.freeRow, { lease: this.leaseParam(leaseMs) });
      // one statement: the count and the clock it was judged by
      const row = await m
        .createQueryBuilder()
        .select(`(${count.getQuery()})`, 'free')
        .addSelect(this.nowMs, 'now_ms')
        .fromDummy()
        .setParameters(count.getParameters())
        .getRawOne<{ free: unknown; now_ms: unknown }>();
      return [row!.free, row!.now_ms];
    });
    return { free: Number(free), dbNowMs: Number(now) };
  }

  async release(workerId: number, instanceId: string, untilMs: number): Promise<void> {
    await this.run(this.cas.release, [untilMs, workerId, instanceId], REPEATABLE);
  }

  abstract seed(from: number, to: number): Promise<void>;
  abstract acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null>;
  abstract claim(workerId: number, c: Claimant, leaseMs: number): Promise<AcquiredWorker | null>;
  abstract renew(workerId: number, instanceId: string, untilMs: number): Promise<boolean>;
  abstract writerSince(slackMs: number): Promise<WriterRecord>;
}
