import { MigrationInterface, QueryRunner } from 'typeorm';
import { dialectOf } from './dialect';

const NAME = 'Segment1767225600100';

async function tableExists(q: QueryRunner, table: string): Promise<boolean> {
  const dialect = dialectOf(q);
  const rows: unknown[] =
    dialect === 'mysql'
      ? await q.query('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [table])
      : dialect === 'postgres'
        ? await q.query('SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1', [table])
        : await q.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]);
  return rows.length > 0;
}

/**
 * The segment table (SEGMENT_TABLE) and our own columns in id_segment_meta beside it. A table that
 * exists already (Leaf's leaf_alloc, go-id-alloc's segments) is used as it is: no row, no column,
 * no trigger added. One we create has Meituan Leaf's shape, keys compared exactly (binary
 * collation, as on SQLite), and the key `default` (step 1000).
 */
export function segmentTableMigration(table: string): new () => MigrationInterface {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(table)) throw new Error(`bad segment table name ${table}`);
  const migration = class implements MigrationInterface {
    name = NAME;

    async up(q: QueryRunner): Promise<void> {
      const dialect = dialectOf(q);
      const create = !(await tableExists(q, table));
      const quoted = dialect === 'postgres' ? `"${table}"` : `\`${table}\``;
      if (dialect === 'mysql') {
        if (create) {
          await q.query(
            `CREATE TABLE \`${table}\` (
               biz_tag varchar(128) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
               max_id bigint(20) NOT NULL DEFAULT '1',
               step int(11) NOT NULL,
               description varchar(256) DEFAULT NULL,
               update_time timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
               PRIMARY KEY (biz_tag)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
          );
        }
        await q.query(
          `CREATE TABLE IF NOT EXISTS id_segment_meta (
             biz_tag varchar(128) COLLATE utf8mb4_bin NOT NULL,
             public tinyint(1) NOT NULL DEFAULT 0,
             skip_seq int NOT NULL DEFAULT 0,
             PRIMARY KEY (biz_tag)
           ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
        );
      } else if (dialect === 'postgres') {
        // COLLATE "C": keys compare and sort byte for byte, as utf8mb4_bin and SQLite's BINARY do
        if (create) {
          await q.query(
            `CREATE TABLE ${quoted} (
               biz_tag varchar(128) COLLATE "C" NOT NULL DEFAULT '',
               max_id bigint NOT NULL DEFAULT 1,
               step int NOT NULL,
               description varchar(256),
               update_time timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (biz_tag)
             )`,
          );
        }
        await q.query(
          `CREATE TABLE IF NOT EXISTS id_segment_meta (
             biz_tag varchar(128) COLLATE "C" NOT NULL PRIMARY KEY,
             public smallint NOT NULL DEFAULT 0,
             skip_seq int NOT NULL DEFAULT 0
           )`,
        );
      } else {
        if (create) {
          await q.query(
            `CREATE TABLE \`${table}\` (
               biz_tag varchar(128) NOT NULL DEFAULT '' PRIMARY KEY,
               max_id bigint NOT NULL DEFAULT 1,
               step int NOT NULL,
               description varchar(256) DEFAULT NULL,
               update_time timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
             )`,
          );
        }
        await q.query(
          `CREATE TABLE IF NOT EXISTS id_segment_meta (
             biz_tag varchar(128) NOT NULL PRIMARY KEY,
             public integer NOT NULL DEFAULT 0,
             skip_seq integer NOT NULL DEFAULT 0
           )`,
        );
      }
      if (create) {
        await q.query(`INSERT INTO ${quoted} (biz_tag, max_id, step, description) VALUES ('default', 1, 1000, 'the default key')`);
      }
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query('DROP TABLE IF EXISTS id_segment_meta');
    }
  };
  Object.defineProperty(migration, 'name', { value: NAME });
  return migration;
}
