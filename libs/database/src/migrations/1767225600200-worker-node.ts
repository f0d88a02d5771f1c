import { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from './dialect';

/**
 * worker_node: snowflake worker ids leased with a time reservation (DESIGN.md, "Snowflake
 * strategy"). One row per worker id ever used; a row is never deleted, so its reserved_until
 * (Unix ms of the holder's id clock, never lowered) outlives every holder. heartbeat is the
 * database's clock: UTC DATETIME(3) on MySQL, timestamptz(3) on PostgreSQL, Unix ms from SQLite's
 * own clock.
 */
export class WorkerNode1767225600200 implements MigrationInterface {
  name = 'WorkerNode1767225600200';

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    if (dialect === 'mysql') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS worker_node (
           worker_id int unsigned NOT NULL PRIMARY KEY,
           instance_id varchar(64) NULL,
           host varchar(255) NULL,
           pid int NULL,
           reserved_until bigint NOT NULL DEFAULT 0,
           heartbeat datetime(3) NULL,
           acquired_at datetime(3) NULL,
           KEY idx_worker_node_instance (instance_id)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      );
    } else if (dialect === 'postgres') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS worker_node (
           worker_id int NOT NULL PRIMARY KEY,
           instance_id varchar(64) COLLATE "C" NULL,
           host varchar(255) NULL,
           pid int NULL,
           reserved_until bigint NOT NULL DEFAULT 0,
           heartbeat timestamptz(3) NULL,
           acquired_at timestamptz(3) NULL
         )`,
      );
      await q.query('CREATE INDEX IF NOT EXISTS idx_worker_node_instance ON worker_node (instance_id)');
    } else {
      await q.query(
        `CREATE TABLE IF NOT EXISTS worker_node (
           worker_id integer NOT NULL PRIMARY KEY,
           instance_id varchar(64) NULL,
           host varchar(255) NULL,
           pid integer NULL,
           reserved_until integer NOT NULL DEFAULT 0,
           heartbeat integer NULL,
           acquired_at integer NULL
         )`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS worker_node');
  }
}
