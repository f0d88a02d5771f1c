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

/**
 * The statements on a partition whose atomicity is the guarantee, written by hand once per
 * dialect beside the partition entities: an allocation (go-id-alloc's REPLACE) with the locks
 * that order it against a re-base's fence, and a skip. MySQL/MariaDB and PostgreSQL side by side;
 * `?` placeholders on both (PgPool numbers them). The layout records themselves are the store's,
 * through the PartitionLayout entity.
 *
 * The allocation and a re-base's fence exclude each other: MySQL reads the layout row under a
 * shared lock (LOCK IN SHARE MODE) that the fence's FOR UPDATE waits for, and the other way round.
 * PostgreSQL cannot do it with row locks: the fence inserts a new layout row, which a row lock
 * does not stop, and a READ COMMITTED statement that waited for the fence still answers from its
 * older snapshot (the old version). So a transaction-scoped advisory lock per partition takes
 * their place, shared for an allocation, exclusive for a fence or a skip; the layout is read
 * after it is granted, so an allocation that waited for a fence reads the fence's version.
 *
 * go-id-alloc's REPLACE is PostgreSQL's upsert on the one `meanless` row taking the identity's
 * next value; the row keeps the highest value (GREATEST: an allocation that waited for another's
 * row lock must not set it back), and each allocation returns its own value.
 */
export interface PartitionStatements {
  /** before the allocation reads the layout */
  lockShared: (idx: number) => string | null;
  /** before a fence or a skip reads the layout (null: the layout read locks) */
  lockExclusive: (idx: number) => string | null;
  /** the latest layout version, read by an allocation (shared) or a fence (exclusive) */
  latestVersionShared: string;
  latestVersionExclusive: string;
  /** one allocation; answers the new id */
  allocate: (table: string) => string;
  /** makes `id` (bound) the last one, and the next allocation id + 1 */
  setLast: (table: string) => string[];
  /** the type an integer is CAST to for exact decimal text */
  text: string;
  /** the latest layout version's skip counter + 1, in the skip's transaction */
  countSkip: string;
}

const MYSQL_PARTITION: PartitionStatements = {
  lockShared: () => null,
  lockExclusive: () => null,
  latestVersionShared: 'SELECT CAST(MAX(version) AS CHAR) AS version FROM partition_layout WHERE idx = ? LOCK IN SHARE MODE',
  latestVersionExclusive: 'SELECT CAST(MAX(version) AS CHAR) AS version FROM partition_layout WHERE idx = ? FOR UPDATE',
  allocate: (table) => `REPLACE INTO ${table} (meanless) VALUES (0)`,
  // an explicit id moves the auto-increment counter past it
  setLast: (table) => [`REPLACE INTO ${table} (id, meanless) VALUES (CAST(? AS SIGNED), 0)`],
  text: 'CHAR',
  countSkip: 'UPDATE partition_layout SET skips = skips + 1 WHERE idx = ? ORDER BY version DESC LIMIT 1',
};

/** the advisory lock of partition idx: (a constant for this service, idx) */
const partitionLock = (fn: string, idx: number) => `SELECT ${fn}(hashtext('id_allocator partition'), ${idx})`;

const POSTGRES_PARTITION: PartitionStatements = {
  lockShared: (idx) => partitionLock('pg_advisory_xact_lock_shared', idx),
  lockExclusive: (idx) => partitionLock('pg_advisory_xact_lock', idx),
  latestVersionShared: 'SELECT CAST(MAX(version) AS TEXT) AS version FROM partition_layout WHERE idx = ?',
  latestVersionExclusive: 'SELECT CAST(MAX(version) AS TEXT) AS version FROM partition_layout WHERE idx = ?',
  allocate: (table) =>
    `WITH n AS (SELECT nextval(pg_get_serial_sequence('${table}', 'id')) AS id)
     INSERT INTO ${table} AS t (id, meanless) SELECT id, 0 FROM n
       ON CONFLICT (meanless) DO UPDATE SET id = GREATEST(t.id, EXCLUDED.id)
     RETURNING (SELECT CAST(id AS TEXT) FROM n) AS id`,
  // the sequence is never set back (values above the last row were never committed: unused)
  setLast: (table) => [
    `INSERT INTO ${table} (id, meanless) VALUES (CAST(? AS bigint), 0) ON CONFLICT (meanless) DO UPDATE SET id = EXCLUDED.id`,
    `SELECT setval(pg_get_serial_sequence('${table}', 'id'), GREATEST(CAST(? AS bigint), (SELECT last_value FROM ${table}_id_seq)))`,
  ],
  text: 'TEXT',
  countSkip: 'UPDATE partition_layout SET skips = skips + 1 WHERE idx = ? AND version = (SELECT MAX(version) FROM partition_layout WHERE idx = ?)',
};

export const PARTITION_STATEMENTS: Record<'mysql' | 'postgres', PartitionStatements> = { mysql: MYSQL_PARTITION, postgres: POSTGRES_PARTITION };
