import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * leaf_alloc exactly as Meituan Leaf has it (a Leaf database works as is; an existing table is
 * kept), our own columns in id_segment_meta beside it, and the key `default` (step 1000).
 * Keys compare exactly (binary collation), as on SQLite.
 */
export class Segment1767225600100 implements MigrationInterface {
  name = 'Segment1767225600100';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'mysql') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS leaf_alloc (
           biz_tag varchar(128) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
           max_id bigint(20) NOT NULL DEFAULT '1',
           step int(11) NOT NULL,
           description varchar(256) DEFAULT NULL,
           update_time timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
           PRIMARY KEY (biz_tag)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      );
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_meta (
           biz_tag varchar(128) COLLATE utf8mb4_bin NOT NULL,
           public tinyint(1) NOT NULL DEFAULT 0,
           skip_seq int NOT NULL DEFAULT 0,
           PRIMARY KEY (biz_tag)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      );
      await q.query(
        "INSERT IGNORE INTO leaf_alloc (biz_tag, max_id, step, description) VALUES ('default', 1, 1000, 'the default key')",
      );
    } else {
      await q.query(
        `CREATE TABLE IF NOT EXISTS leaf_alloc (
           biz_tag varchar(128) NOT NULL DEFAULT '' PRIMARY KEY,
           max_id bigint NOT NULL DEFAULT 1,
           step int NOT NULL,
           description varchar(256) DEFAULT NULL,
           update_time timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
         )`,
      );
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_segment_meta (
           biz_tag varchar(128) NOT NULL PRIMARY KEY,
           public integer NOT NULL DEFAULT 0,
           skip_seq integer NOT NULL DEFAULT 0
         )`,
      );
      await q.query(
        "INSERT OR IGNORE INTO leaf_alloc (biz_tag, max_id, step, description) VALUES ('default', 1, 1000, 'the default key')",
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS id_segment_meta');
    await q.query('DROP TABLE IF EXISTS leaf_alloc');
  }
}
