import { EntitySchema } from 'typeorm';
import { DECIMAL_STRING, NOW, perDialect, EntityDialect, SQLITE_AUTOINCREMENT_ID, PG_IDENTITY } from './dialect';

/*
 * The partitioned strategy's tables (migrations partitionTableMigration, PartitionLayout1767225600500),
 * in each partition's database; partition_layout also in the main one.
 */

/** go-id-alloc's partition_N: the auto-increment id is the sequence, one row (meanless) replaced */
export interface PartitionRow {
  id: string;
  meanless: number;
}

export const partitionEntityName = (idx: number) => `Partition${idx}`;

export function partitionTableEntity(dialect: EntityDialect, idx: number): EntitySchema<PartitionRow> {
  return new EntitySchema<PartitionRow>({
    name: partitionEntityName(idx),
    tableName: `partition_${idx}`,
    columns: perDialect(dialect, {
      mysql: {
        id: { type: 'bigint', transformer: DECIMAL_STRING, width: 20, primary: true, generated: 'increment' },
        meanless: { type: 'tinyint', width: 4 },
      },
      sqlite: {
        id: { ...SQLITE_AUTOINCREMENT_ID, transformer: DECIMAL_STRING },
        meanless: { type: 'tinyint' },
      },
      postgres: {
        id: { type: 'bigint', transformer: DECIMAL_STRING, primary: true, ...PG_IDENTITY },
        meanless: { type: 'smallint' },
      },
    }),
    // the one row REPLACE INTO (an upsert on PostgreSQL) replaces: MySQL's named UNIQUE KEY, an inline UNIQUE elsewhere
    indices: perDialect(dialect, { mysql: [{ name: 'meanless', columns: ['meanless'], unique: true }], sqlite: [], postgres: [] }),
    uniques: perDialect(dialect, { mysql: [], sqlite: [{ columns: ['meanless'] }], postgres: [{ columns: ['meanless'] }] }),
  });
}

/** partition_layout: the layout a partition was drawn under, per version, and its skip counter */
export interface PartitionLayoutRow {
  version: number;
  idx: number;
  layoutId: string;
  total: number;
  segmentSize: string;
  base: string;
  firstAllocation: string;
  complete: number;
  skips: string;
  createdAt: Date;
}

export const PARTITION_LAYOUT = 'PartitionLayout';

export function partitionLayoutEntity(dialect: EntityDialect): EntitySchema<PartitionLayoutRow> {
  // SQLite's integer is 64-bit; MySQL's int is not
  const big = perDialect(dialect, { mysql: 'bigint', sqlite: 'integer', postgres: 'bigint' } as const);
  return new EntitySchema<PartitionLayoutRow>({
    name: PARTITION_LAYOUT,
    tableName: 'partition_layout',
    columns: {
      version: { type: 'int', primary: true },
      idx: { type: 'int', primary: true },
      layoutId: { name: 'layout_id', type: 'varchar', length: 64 },
      total: { type: 'int' },
      segmentSize: { name: 'segment_size', type: big, transformer: DECIMAL_STRING },
      base: { type: big, transformer: DECIMAL_STRING },
      firstAllocation: { name: 'first_allocation', type: big, transformer: DECIMAL_STRING },
      complete: { type: perDialect(dialect, { mysql: 'tinyint', sqlite: 'tinyint', postgres: 'smallint' }) },
      skips: { type: big, transformer: DECIMAL_STRING, default: 0 },
      createdAt: { name: 'created_at', type: perDialect(dialect, { mysql: 'timestamp', sqlite: 'datetime', postgres: 'timestamptz' }), default: NOW },
    },
  });
}
