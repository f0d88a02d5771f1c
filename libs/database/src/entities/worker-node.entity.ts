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
