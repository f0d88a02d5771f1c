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
