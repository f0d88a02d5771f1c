import { AppConfig } from '@app/core';
import {
  dataSourceOptions,
  MysqlPool,
  newDataSource,
  partitionDataSourceOptions,
  runMigrations,
  SEGMENT_TABLE_ENTITY,
  segmentTableEntity,
  SegmentTableRow,
} from '@app/database';
import { readServerSegmentTable } from '@app/segment/server-segment-store';
import { DataSourceOptions } from 'typeorm';
import { testConfig } from './support/config';
import { dialects, openDatabase, TestDatabase } from './support/dialects';
import { freshDatabase } from './support/mysql';
import { goIdAllocDdl } from './support/old-services';

/*
 * The entities and the migrations describe the same tables: a database the migrations made
 * fresh, compared by TypeORM's schema builder with the entities registered in the DataSource,
 * needs no change (no column, type, length, nullability, default, key or index differs). The
 * migrations stay the schema's source of truth; this is what keeps the entities honest.
 */

/**
 * The options TypeORM reads the schema with. The service names MariaDB `mysql` (the migrations
 * branch on it); TypeORM's reader, told `mysql`, takes MariaDB 10.11 for MySQL 8 and misreads its
 * defaults and display widths, so the comparison says `mariadb` when the server is one.
 */
async function readerOptions(options: DataSourceOptions): Promise<DataSourceOptions> {
  if (options.type !== 'mysql') return options;
  const probe = await newDataSource(options).initialize();
  const [{ version }] = await probe.query('SELECT VERSION() AS version');
  await probe.destroy();
  return /mariadb/i.test(version) ? ({ ...options, type: 'mariadb' } as DataSourceOptions) : options;
}

/**
 * What TypeORM's schema builder would run to make the database match the entities, and on MySQL
 * the key columns whose binary collation (which TypeORM does not compare) differs, on MySQL and PostgreSQL.
 */
async function schemaChanges(options: DataSourceOptions): Promise<string[]> {
  const ds = await newDataSource(await readerOptions(options)).initialize();
  try {
    const changes = (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
    if (ds.options.type === 'sqlite' || ds.options.type === 'better-sqlite3') return changes;
    const postgres = ds.options.type === 'postgres';
    const rows: { t: string; c: string; collation: string | null }[] = await ds.query(
      `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${postgres ? 'current_schema()' : 'DATABASE()'}`,
    );
    for (const m of ds.entityMetadatas.filter((e) => e.synchronize)) {
      for (const column of m.columns) {
        const found = rows.find((r) => r.t === m.tableName && r.c === column.databaseName)?.collation ?? null;
        // byte for byte: MySQL's *_bin, PostgreSQL's "C"
        const binary = (collation: string | null | undefined) => (postgres ? collation === 'C' : (collation?.endsWith('_bin') ?? false));
        if (binary(found) !== binary(column.collation)) changes.push(`collation of ${m.tableName}.${column.databaseName}: ${found} in the database, ${column.collation} in the entity`);
      }
    }
    return changes;
  } finally {
    await ds.destroy();
  }
}

/** migrates a fresh database with these options, then asks what the entities would change */
async function migrateAndCompare(options: DataSourceOptions): Promise<{ changes: string[]; tables: string[] }> {
  const ds = await newDataSource(options).initialize();
  const tables = ds.entityMetadatas.map((m) => m.tableName).sort();
  try {
    await runMigrations(ds);
  } finally {
    await ds.destroy();
  }
  return { changes: await schemaChanges(options), tables };
}

const OWN_TABLES = ['id_idempotency', 'id_meta', 'id_segment_change', 'id_segment_halt', 'id_segment_meta', 'partition_layout', 'ticket', 'worker_node'];

describe.each(dialects())('entities agree with the migrations on %s', (dialect) => {
  const opened: TestDatabase[] = [];
  const open = async (tag: string) => {
    const db = await openDatabase(dialect, tag);
    opened.push(db);
    return db;
  };
  afterAll(async () => {
    for (const db of opened) await db.drop();
  });

  it('default SEGMENT_TABLE: every table the migrations create, nothing to change', async () => {
    const db = await open('entities_default');
    const config = testConfig(db.env);
    const { changes, tables } = await migrateAndCompare(dataSourceOptions(config));
    expect(changes).toEqual([]);
    // no PARTITIONS: partition 1 on the main database
    expect(tables).toEqual([...OWN_TABLES, 'leaf_alloc', 'partition_1'].sort());
  });

  it('SEGMENT_TABLE=segments created by the migration, nothing to change', async () => {
    const db = await open('entities_segments');
    const { changes, tables } = await migrateAndCompare(dataSourceOptions(testConfig({ ...db.env, SEGMENT_TABLE: 'segments' })));
    expect(changes).toEqual([]);
    expect(tables).toContain('segments');
    expect(tables).not.toContain('leaf_alloc');
  });

  if (dialect === 'mysql') {
    it('PARTITIONS: two partition tables on the main database and one in its own, nothing to change in either', async () => {
      const main = await open('entities_parts_main');
      const other = await freshDatabase('entities_parts_3');
      try {
        const partitions = [1, 2, 3].map((idx) => ({ idx, total: 3, url: idx < 3 ? main.env.DATABASE_URL : other.url }));
        const config: AppConfig = testConfig({ ...main.env, PARTITIONS: JSON.stringify(partitions) });
        const onMain = await migrateAndCompare(dataSourceOptions(config));
        expect(onMain.changes).toEqual([]);
        expect(onMain.tables).toEqual(expect.arrayContaining(['partition_1', 'partition_2', 'partition_layout']));
        expect(onMain.tables).not.toContain('partition_3');
        const own = await migrateAndCompare(partitionDataSourceOptions(other.url, 3));
        expect(own.changes).toEqual([]);
        expect(own.tables).toEqual(['partition_3', 'partition_layout']);
      } finally {
        await other.drop();
      }
    });

    it("go-id-alloc's segments (desc column, varchar(32) keys) found at start: our tables agree, the found one is read through its entity and never changed", async () => {
      const db = await open('entities_goalloc');
      await db.query(goIdAllocDdl('segments', 'desc'));
      await db.query("INSERT INTO segments (biz_tag, max_id, step, `desc`, update_time) VALUES ('orders', 9007199254740993, 100, 'from go', NOW())");
      const config = testConfig({ ...db.env, SEGMENT_TABLE: 'segments' });
      const options = dataSourceOptions(config);
      const migrated = await newDataSource(options).initialize();
      await runMigrations(migrated);
      await migrated.destroy();
      // the segment table as the store reads it at start
      const pool = new MysqlPool(db.env.DATABASE_URL);
      const found = await readServerSegmentTable(pool, 'segments').finally(() => pool.end());
      expect(found.descriptionColumn).toBe('desc');
      expect(found.keyLength).toBe(32);
      const entities = (options.entities as { options: { name: string } }[]).filter((e) => e.options.name !== SEGMENT_TABLE_ENTITY);
      const withFound = { ...options, entities: [...entities, segmentTableEntity('mysql', found, 'found')] } as DataSourceOptions;
      expect(await schemaChanges(withFound)).toEqual([]);
      // the same table under our own shape would be altered: the found one must stay out of the comparison
      const asOurs = await schemaChanges({ ...options, entities: [...entities, segmentTableEntity('mysql', found)] } as DataSourceOptions);
      expect(asOurs.length).toBeGreaterThan(0);
      expect(asOurs.filter((q) => !/\bsegments\b/.test(q))).toEqual([]);
      const ds = await newDataSource(withFound).initialize();
      try {
        const row = await ds.getRepository<SegmentTableRow>(SEGMENT_TABLE_ENTITY).findOneByOrFail({ bizTag: 'orders' });
        expect(row).toMatchObject({ bizTag: 'orders', maxId: '9007199254740993', step: 100, description: 'from go' });
      } finally {
        await ds.destroy();
      }
    });
  }
});
