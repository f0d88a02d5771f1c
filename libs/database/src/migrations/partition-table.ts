import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * go-id-alloc's `partition_N(id auto_increment, meanless tinyint unique)`, one migration per
 * partition, run in the partition's own database. The n-th `REPLACE INTO partition_N` returns
 * id n+1; the application turns it into a global segment (no server variable relied on).
 */
export function partitionTableMigration(idx: number): new () => MigrationInterface {
  if (!Number.isInteger(idx) || idx < 1) throw new Error(`bad partition index ${idx}`);
  const name = `PartitionTable${idx}x1767225600400`;
  const table = `partition_${idx}`;
  const migration = class implements MigrationInterface {
    name = name;
    async up(q: QueryRunner): Promise<void> {
      if (q.connection.options.type === 'mysql') {
        await q.query(
          `CREATE TABLE IF NOT EXISTS ${table} (
             id bigint(20) NOT NULL AUTO_INCREMENT,
             meanless tinyint(4) NOT NULL,
             PRIMARY KEY (id),
             UNIQUE KEY meanless (meanless)
           ) ENGINE=InnoDB`,
        );
      } else {
        await q.query(`CREATE TABLE IF NOT EXISTS ${table} (id INTEGER PRIMARY KEY AUTOINCREMENT, meanless tinyint NOT NULL UNIQUE)`);
      }
    }
    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  };
  Object.defineProperty(migration, 'name', { value: name });
  return migration;
}

/**
 * `partition_layout`: the layout each partition database was drawn under, one row per partition
 * held there and layout version (a re-base adds a version), and the partition's skip counter,
 * which every instance polls. Created in every partition database and in the main one (so a
 * start can see that partitions moved away from it).
 */
export class PartitionLayout1767225600500 implements MigrationInterface {
  name = 'PartitionLayout1767225600500';
  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type === 'mysql';
    // SQLite's integer is 64-bit; MySQL's int is not
    const [big, time, engine] = mysql ? ['bigint', 'timestamp', ' ENGINE=InnoDB'] : ['integer', 'datetime', ''];
    await q.query(
      `CREATE TABLE IF NOT EXISTS partition_layout (
         version int NOT NULL,
         idx int NOT NULL,
         layout_id varchar(64) NOT NULL,
         total int NOT NULL,
         segment_size ${big} NOT NULL,
         base ${big} NOT NULL,
         first_allocation ${big} NOT NULL,
         complete tinyint NOT NULL,
         skips ${big} NOT NULL DEFAULT 0,
         created_at ${time} NOT NULL DEFAULT CURRENT_TIMESTAMP,
         PRIMARY KEY (version, idx)
       )${engine}`,
    );
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS partition_layout');
  }
}
