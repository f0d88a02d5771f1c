import { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from './dialect';

/**
 * id_segment_change: one row that every write the segment poll must see bumps in its own
 * statement or transaction (a fetch, a skip, a PATCH, a public flag, a create), so an idle poll
 * reads this one row instead of every key in use (issue 27).
 * - seq counts the writes;
 * - token is the XOR of a random value each write brings: a database that lost writes and took
 *   new ones since may show the same seq again, never (but with odds of 2^-62) the same token.
 * A rollback takes the row back with the writes it lost (same transaction), so the poll sees a
 * change and reads every key. Our own table: Leaf's and go-id-alloc's tables get nothing.
 */
export class SegmentChange1767225600600 implements MigrationInterface {
  name = 'SegmentChange1767225600600';

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    if (dialect === 'mysql') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_change (
           id int NOT NULL,
           seq bigint NOT NULL DEFAULT 0,
           token bigint NOT NULL DEFAULT 0,
           PRIMARY KEY (id)
         ) ENGINE=InnoDB`,
      );
      await q.query('INSERT IGNORE INTO id_segment_change (id, seq, token) VALUES (1, 0, 0)');
    } else if (dialect === 'postgres') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_change (
           id int NOT NULL PRIMARY KEY,
           seq bigint NOT NULL DEFAULT 0,
           token bigint NOT NULL DEFAULT 0
         )`,
      );
      await q.query('INSERT INTO id_segment_change (id, seq, token) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING');
    } else {
      // SQLite migrations take no lock: processes starting together on one file may race here
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_change (
           id integer NOT NULL PRIMARY KEY,
           seq bigint NOT NULL DEFAULT 0,
           token bigint NOT NULL DEFAULT 0
         )`,
      );
      await q.query('INSERT OR IGNORE INTO id_segment_change (id, seq, token) VALUES (1, 0, 0)');
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS id_segment_change');
  }
}
