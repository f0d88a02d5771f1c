import { EntitySchema } from 'typeorm';
import { BIN, DECIMAL_STRING, NOW, NUMBER, perDialect, EntityDialect } from './dialect';

/*
 * The segment strategy's tables: SEGMENT_TABLE and our own tables beside it (migrations
 * Segment1767225600100, SegmentGuard1767225600400, SegmentChange1767225600600). Keys compare in
 * binary on MySQL (utf8mb4_bin), as SQLite compares them. BIGINT columns are strings: exact 64-bit.
 */

/** A row of the segment table (leaf_alloc's shape). */
export interface SegmentTableRow {
  bizTag: string;
  maxId: string;
  step: number;
  description: string | null;
  updateTime: Date;
}

/**
 * Which table SEGMENT_TABLE names and what it calls its description column: the configured name
 * with `description` for the table the migration creates, or a SegmentTable read at start (Leaf's
 * leaf_alloc, go-id-alloc's segments with `desc` and a shorter biz_tag).
 */
export interface SegmentTableShape {
  name: string;
  descriptionColumn: string;
  keyLength: number;
}

export const SEGMENT_TABLE_ENTITY = 'SegmentTable';

/**
 * The segment table as the migration creates it under SEGMENT_TABLE. A table another service
 * made (`made: 'found'`: Leaf's, go-id-alloc's, read at start) is used as it is: the entity names
 * its description column and key length, and is left out of every schema comparison (its types
 * are that service's, never ours to change).
 */
export function segmentTableEntity(
  dialect: EntityDialect,
  table: SegmentTableShape,
  made: 'migration' | 'found' = 'migration',
): EntitySchema<SegmentTableRow> {
  return new EntitySchema<SegmentTableRow>({
    name: SEGMENT_TABLE_ENTITY,
    tableName: table.name,
    synchronize: made === 'migration',
    columns: {
      bizTag: { name: 'biz_tag', type: 'varchar', length: table.keyLength, primary: true, default: '', collation: BIN(dialect) },
      maxId: { name: 'max_id', type: 'bigint', transformer: DECIMAL_STRING, default: 1, width: perDialect(dialect, { mysql: 20, sqlite: undefined, postgres: undefined }) },
      step: { type: 'int', transformer: NUMBER, width: perDialect(dialect, { mysql: 11, sqlite: undefined, postgres: undefined }) },
      description: {
        name: table.descriptionColumn,
        type: 'varchar',
        length: 256,
        nullable: true,
        // SQLite keeps the migration's DEFAULT NULL as written
        default: perDialect(dialect, { mysql: null, sqlite: () => 'NULL', postgres: undefined }),
      },
      updateTime: {
        name: 'update_time',
        type: perDialect(dialect, { mysql: 'timestamp', sqlite: 'timestamp', postgres: 'timestamptz' }),
        default: NOW,
        onUpdate: perDialect(dialect, { mysql: 'CURRENT_TIMESTAMP', sqlite: undefined, postgres: undefined }),
      },
    },
  });
}

/** id_segment_meta: our columns per key beside the segment table */
export interface SegmentMetaRow {
  bizTag: string;
  public: number;
  skipSeq: number;
  highWater: string;
  /** a business-number format's JSON (issue 30), null for plain numeric ids */
  format: string | null;
}

export const SEGMENT_META = 'SegmentMeta';

export function segmentMetaEntity(dialect: EntityDialect): EntitySchema<SegmentMetaRow> {
  return new EntitySchema<SegmentMetaRow>({
    name: SEGMENT_META,
    tableName: 'id_segment_meta',
    columns: {
      bizTag: { name: 'biz_tag', type: 'varchar', length: 128, primary: true, collation: BIN(dialect) },
      public: perDialect(dialect, {
        mysql: { type: 'tinyint', width: 1, default: 0 },
        sqlite: { type: 'integer', default: 0 },
        postgres: { type: 'smallint', default: 0 },
      }),
      skipSeq: { name: 'skip_seq', type: perDialect(dialect, { mysql: 'int', sqlite: 'integer', postgres: 'int' }), default: 0 },
      highWater: { name: 'high_water', type: 'bigint', transformer: DECIMAL_STRING, default: 0 },
      // the migration's DEFAULT NULL, which TypeORM reads back from SQLite as the text NULL
      format: { type: 'varchar', length: 512, nullable: true, default: perDialect(dialect, { mysql: null, sqlite: () => 'NULL', postgres: undefined }) },
    },
  });
}

/** id_segment_halt: per instance and halted key, the smallest skip target it accepts */
export interface SegmentHaltRow {
  instanceId: string;
  bizTag: string;
  minTarget: string;
  /** the database's clock, Unix ms */
  seenAt: string;
}

export const SEGMENT_HALT = 'SegmentHalt';

export function segmentHaltEntity(dialect: EntityDialect): EntitySchema<SegmentHaltRow> {
  return new EntitySchema<SegmentHaltRow>({
    name: SEGMENT_HALT,
    tableName: 'id_segment_halt',
    columns: {
      instanceId: { name: 'instance_id', type: 'varchar', length: 64, primary: true, collation: BIN(dialect) },
      bizTag: { name: 'biz_tag', type: 'varchar', length: 128, primary: true, collation: BIN(dialect) },
      minTarget: { name: 'min_target', type: 'bigint', transformer: DECIMAL_STRING },
      seenAt: { name: 'seen_at', type: 'bigint', transformer: DECIMAL_STRING },
    },
    // the skip route's read: fresh targets of a key
    indices: perDialect(dialect, {
      mysql: [{ name: 'biz_tag_seen', columns: ['bizTag', 'seenAt'] }],
      sqlite: [],
      postgres: [{ name: 'biz_tag_seen', columns: ['bizTag', 'seenAt'] }],
    }),
  });
}

/** id_segment_change: the one row every write the poll must see bumps */
export interface SegmentChangeRow {
  id: number;
  seq: string;
  token: string;
}

export const SEGMENT_CHANGE = 'SegmentChange';

export function segmentChangeEntity(dialect: EntityDialect): EntitySchema<SegmentChangeRow> {
  return new EntitySchema<SegmentChangeRow>({
    name: SEGMENT_CHANGE,
    tableName: 'id_segment_change',
    columns: {
      id: { type: perDialect(dialect, { mysql: 'int', sqlite: 'integer', postgres: 'int' }), primary: true },
      seq: { type: 'bigint', transformer: DECIMAL_STRING, default: 0 },
      token: { type: 'bigint', transformer: DECIMAL_STRING, default: 0 },
    },
  });
}
