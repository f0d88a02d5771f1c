import { EntitySchema } from 'typeorm';
import { DECIMAL_STRING, perDialect, EntityDialect } from './dialect';

/** worker_node: snowflake worker ids leased with a time reservation (WorkerNode1767225600200). */
export interface WorkerNodeRow {
  workerId: number;
  instanceId: string | null;
  host: string | null;
  pid: number | null;
  /** Unix ms of the holder's id clock, never lowered */
  reservedUntil: string;
  /** the database's clock: UTC DATETIME(3) on MySQL, Unix ms on SQLite */
  heartbeat: Date | string | null;
  acquiredAt: Date | string | null;
}

export const WORKER_NODE = 'WorkerNode';

export function workerNodeEntity(dialect: EntityDialect): EntitySchema<WorkerNodeRow> {
  const mysql = dialect === 'mysql';
  const clock = perDialect(dialect, {
    mysql: { type: 'datetime', precision: 3, nullable: true },
    sqlite: { type: 'integer', nullable: true },
    postgres: { type: 'timestamptz', precision: 3, nullable: true },
  } as const);
  return new EntitySchema<WorkerNodeRow>({
    name: WORKER_NODE,
    tableName: 'worker_node',
    columns: {
      workerId: { name: 'worker_id', type: perDialect(dialect, { mysql: 'int', sqlite: 'integer', postgres: 'int' }), unsigned: mysql || undefined, primary: true },
      instanceId: { name: 'instance_id', type: 'varchar', length: 64, nullable: true, collation: perDialect(dialect, { mysql: undefined, sqlite: undefined, postgres: 'C' }) },
      host: { type: 'varchar', length: 255, nullable: true },
      pid: { type: perDialect(dialect, { mysql: 'int', sqlite: 'integer', postgres: 'int' }), nullable: true },
      reservedUntil: { name: 'reserved_until', type: perDialect(dialect, { mysql: 'bigint', sqlite: 'integer', postgres: 'bigint' }), transformer: DECIMAL_STRING, default: 0 },
      heartbeat: { ...clock },
      acquiredAt: { name: 'acquired_at', ...clock },
    },
    indices: dialect === 'sqlite' ? [] : [{ name: 'idx_worker_node_instance', columns: ['instanceId'] }],
  });
}

/**
 * A lease's compare-and-set statements, whose WHERE is the guarantee (two instances never hold
 * one worker id): each one conditional UPDATE, written by hand once per dialect beside the table.
 * `takenOver`: the row may be taken from a holder whose heartbeat lapsed (by the database's clock),
 * else only a free one (never held, released, or, for claim, already ours).
 *
 * Among the rows usable soonest (never held, or released with a reservation already past: all
 * "now") one is picked at random, not the lowest: a row whose acquisition a failover lost looks
 * free, and a fixed order would hand it to the next newcomer first (the lease's writer record
 * makes that newcomer wait; the random pick makes the case rare besides).
 * MySQL/MariaDB picks and takes a row with UPDATE ... ORDER BY ... LIMIT 1 and hands back which
 * with LAST_INSERT_ID(worker_id) (the OK packet's insertId); heartbeats are UTC_TIMESTAMP(3), the
 * lapse bound in microseconds. PostgreSQL picks it in a subquery (FOR UPDATE SKIP LOCKED: two
 * instances acquiring together take two rows), checks the condition again on the row it updates
 * and answers it with RETURNING; heartbeats are statement_timestamp(), the bound in ms.
 */
export interface LeaseStatements {
  /** values: instance, host, pid, from, to, [lapse bound], nowMs, [lapse bound (PostgreSQL)] */
  acquire(takenOver: boolean): string;
  /** values: instance, host, pid, workerId, lapse bound (takenOver) or the instance */
  claim(takenOver: boolean): string;
  /** values: untilMs, workerId, instance */
  renew: string;
  /** values: untilMs, workerId, instance */
  release: string;
}

const MYSQL_LAPSED = '(instance_id IS NOT NULL AND (heartbeat IS NULL OR heartbeat < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND))';
const PG_NOW = 'statement_timestamp()';
const PG_LAPSED = `(instance_id IS NOT NULL AND (heartbeat IS NULL OR heartbeat < ${PG_NOW} - CAST(? AS bigint) * interval '1 millisecond'))`;
const RELEASE = 'UPDATE worker_node SET instance_id = NULL, heartbeat = NULL, reserved_until = ? WHERE worker_id = ? AND instance_id = ?';

export const LEASE_STATEMENTS: Record<'mysql' | 'postgres', LeaseStatements> = {
  mysql: {
    acquire: (takenOver) =>
      `UPDATE worker_node
          SET worker_id = LAST_INSERT_ID(worker_id), instance_id = ?, host = ?, pid = ?,
              heartbeat = UTC_TIMESTAMP(3), acquired_at = UTC_TIMESTAMP(3)
        WHERE worker_id BETWEEN ? AND ? AND ${takenOver ? MYSQL_LAPSED : 'instance_id IS NULL'}
        ORDER BY GREATEST(reserved_until, ?), RAND()
        LIMIT 1`,
    claim: (takenOver) =>
      `UPDATE worker_node
          SET instance_id = ?, host = ?, pid = ?, heartbeat = UTC_TIMESTAMP(3), acquired_at = UTC_TIMESTAMP(3)
        WHERE worker_id = ? AND ${takenOver ? MYSQL_LAPSED : '(instance_id IS NULL OR instance_id = ?)'}`,
    renew: `UPDATE worker_node SET heartbeat = UTC_TIMESTAMP(3), reserved_until = GREATEST(reserved_until, ?)
             WHERE worker_id = ? AND instance_id = ?`,
    release: RELEASE,
  },
  postgres: {
    acquire: (takenOver) => {
      const which = takenOver ? PG_LAPSED : 'instance_id IS NULL';
      return `UPDATE worker_node
          SET instance_id = ?, host = ?, pid = ?, heartbeat = ${PG_NOW}, acquired_at = ${PG_NOW}
        WHERE worker_id = (SELECT worker_id FROM worker_node
                            WHERE worker_id BETWEEN ? AND ? AND ${which}
                            ORDER BY GREATEST(reserved_until, CAST(? AS bigint)), random()
                            LIMIT 1 FOR UPDATE SKIP LOCKED)
          AND ${which}
        RETURNING worker_id, reserved_until`;
    },
    claim: (takenOver) =>
      `UPDATE worker_node
          SET instance_id = ?, host = ?, pid = ?, heartbeat = ${PG_NOW}, acquired_at = ${PG_NOW}
        WHERE worker_id = ? AND ${takenOver ? PG_LAPSED : '(instance_id IS NULL OR instance_id = ?)'}
        RETURNING worker_id, reserved_until`,
    renew: `UPDATE worker_node SET heartbeat = ${PG_NOW}, reserved_until = GREATEST(reserved_until, CAST(? AS bigint))
             WHERE worker_id = ? AND instance_id = ?`,
    release: RELEASE,
  },
};

