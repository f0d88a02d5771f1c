import { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from './dialect';

/**
 * id_meta: facts the service keeps about itself (the ID_SECRET fingerprint, for one).
 * Every migration is idempotent (IF NOT EXISTS), so instances starting together cannot trip on
 * each other even where the dialect offers no migration lock.
 */
export class Init1767225600000 implements MigrationInterface {
  name = 'Init1767225600000';

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    if (dialect === 'mysql') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_meta (
           name varchar(64) NOT NULL PRIMARY KEY,
           value varchar(255) NOT NULL,
           update_time timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      );
    } else if (dialect === 'postgres') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_meta (
           name varchar(64) COLLATE "C" NOT NULL PRIMARY KEY,
           value varchar(255) NOT NULL,
           update_time timestamptz NOT NULL DEFAULT now()
         )`,
      );
    } else {
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_meta (
           name varchar(64) NOT NULL PRIMARY KEY,
           value varchar(255) NOT NULL,
           update_time timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
         )`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS id_meta');
  }
}
