import { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from './dialect';

/**
 * What the rollback guard and the admin need beside leaf_alloc, in our own tables only (a table
 * made by Leaf or go-id-alloc gets no column and no trigger):
 * - id_segment_meta.high_water: the highest max_id any instance saw a key reach, raised by the
 *   poll and by skips, never lowered and never deleted, so a key deleted and created again cannot
 *   start below its past.
 * - id_segment_halt: per instance and halted key, the smallest skip target that instance accepts
 *   (1 + the highest id it issued or saw another produce), refreshed on every poll; the skip route
 *   refuses a target below the largest fresh one. seen_at is the database's clock in ms.
 */
export class SegmentGuard1767225600400 implements MigrationInterface {
  name = 'SegmentGuard1767225600400';

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    if (dialect === 'mysql') {
      await q.query('ALTER TABLE id_segment_meta ADD COLUMN high_water bigint NOT NULL DEFAULT 0');
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_halt (
           instance_id varchar(64) COLLATE utf8mb4_bin NOT NULL,
           biz_tag varchar(128) COLLATE utf8mb4_bin NOT NULL,
           min_target bigint NOT NULL,
           seen_at bigint NOT NULL,
           PRIMARY KEY (instance_id, biz_tag),
           KEY biz_tag_seen (biz_tag, seen_at)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      );
    } else if (dialect === 'postgres') {
      await q.query('ALTER TABLE id_segment_meta ADD COLUMN IF NOT EXISTS high_water bigint NOT NULL DEFAULT 0');
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_halt (
           instance_id varchar(64) COLLATE "C" NOT NULL,
           biz_tag varchar(128) COLLATE "C" NOT NULL,
           min_target bigint NOT NULL,
           seen_at bigint NOT NULL,
           PRIMARY KEY (instance_id, biz_tag)
         )`,
      );
      await q.query('CREATE INDEX IF NOT EXISTS biz_tag_seen ON id_segment_halt (biz_tag, seen_at)');
    } else {
      // SQLite migrations take no lock: processes starting together on one file may race here
      try {
        await q.query('ALTER TABLE id_segment_meta ADD COLUMN high_water bigint NOT NULL DEFAULT 0');
      } catch (e) {
        if (!/duplicate column name/i.test((e as Error).message)) throw e;
      }
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_halt (
           instance_id varchar(64) NOT NULL,
           biz_tag varchar(128) NOT NULL,
           min_target bigint NOT NULL,
           seen_at bigint NOT NULL,
           PRIMARY KEY (instance_id, biz_tag)
         )`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS id_segment_halt');
    await q.query('ALTER TABLE id_segment_meta DROP COLUMN high_water');
  }
}
