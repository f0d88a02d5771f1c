import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * id_segment_meta.format: a key's business-number format (issue 30), the JSON text of
 * {pattern, reset, timeZone, checkDigit}, or NULL for plain numeric ids. Our own table only: a
 * table made by Leaf or go-id-alloc gets no column.
 */
export class SegmentFormat1767225600700 implements MigrationInterface {
  name = 'SegmentFormat1767225600700';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'mysql') {
      await q.query('ALTER TABLE id_segment_meta ADD COLUMN format varchar(512) DEFAULT NULL');
    } else if (q.connection.options.type === 'postgres') {
      await q.query('ALTER TABLE id_segment_meta ADD COLUMN IF NOT EXISTS format varchar(512)');
    } else {
      // SQLite migrations take no lock: processes starting together on one file may race here
      try {
        await q.query('ALTER TABLE id_segment_meta ADD COLUMN format varchar(512) DEFAULT NULL');
      } catch (e) {
        if (!/duplicate column name/i.test((e as Error).message)) throw e;
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE id_segment_meta DROP COLUMN format');
  }
}
