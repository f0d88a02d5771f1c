import type { AppConfig } from '@app/core';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { entitiesFor, ownSegmentTable, partitionEntitiesFor } from './entities';
import { migrationsFor, PartitionLayout1767225600500, partitionTableMigration } from './migrations';
import { EXACT_TYPES } from './pg-pool';
import { DB_CONNECT_TIMEOUT_MS, parseDbUrl, singleHostUrl } from './sql-pool';

/**
 * Applied on every open of the SQLite file, by the app, the migration CLI and the writer thread
 * alike. better-sqlite3 leaves WAL at synchronous=NORMAL, which can lose the last fetched segment
 * on power loss and then issue its ids again: FULL.
 */
export const SQLITE_PRAGMAS = ['journal_mode = WAL', 'synchronous = FULL', 'busy_timeout = 5000'] as const;

export function prepareSqlite(db: { pragma(source: string): unknown }): void {
  for (const pragma of SQLITE_PRAGMAS) db.pragma(pragma);
}

/** mysql://user:pass@host:port/db, mariadb:// accepted as the same; postgresql:// as postgres://. */
export function serverUrl(url: string): string {
  return url.replace(/^mariadb:\/\//, 'mysql://').replace(/^postgresql:\/\//, 'postgres://');
}

export interface PartitionPlacement {
  idx: number;
  total: number;
  /** undefined: the main database */
  url?: string;
}

/**
 * Where each partition's table lives. No PARTITIONS: one partition (P = 1) on the main database,
 * so `partition` and /alloc work on the embedded default too. A partition whose url is the main
 * DATABASE_URL lives on the main DataSource.
 */
export function partitionPlacements(config: AppConfig): PartitionPlacement[] {
  if (!config.PARTITIONS || config.PARTITIONS.length === 0) return [{ idx: 1, total: 1 }];
  const main = config.DATABASE_URL ? serverUrl(config.DATABASE_URL) : undefined;
  return config.PARTITIONS.map((p) => ({
    idx: p.idx,
    total: p.total,
    url: config.DB_TYPE !== 'sqlite' && serverUrl(p.url) === main ? undefined : serverUrl(p.url),
  }));
}

export function dataSourceOptions(config: AppConfig): DataSourceOptions {
  const onMain = partitionPlacements(config).filter((p) => p.url === undefined);
  const migrations = [...migrationsFor(config.SEGMENT_TABLE), ...onMain.map((p) => partitionTableMigration(p.idx))];
  const tables = {
    migrations,
    entities: entitiesFor(
      config.DB_TYPE,
      ownSegmentTable(config.SEGMENT_TABLE),
      onMain.map((p) => p.idx),
    ),
  };
  if (config.DB_TYPE === 'sqlite') {
    const database = resolve(config.SQLITE_PATH);
    mkdirSync(dirname(database), { recursive: true });
    return { ...baseOptions(tables), type: 'better-sqlite3', database, prepareDatabase: prepareSqlite };
  }
  return serverOptions(serverUrl(config.DATABASE_URL as string), tables);
}

/**
 * Type names our SQLite migrations use that TypeORM's SQLite driver does not list (SQLite takes
 * any name): `timestamp` (id_meta's and the segment table's update_time) and `char(1)` (ticket.stub).
 */
const SQLITE_TYPES_OF_OUR_MIGRATIONS = ['timestamp', 'char'] as const;

/**
 * A DataSource for these options (not yet initialized). On SQLite, TypeORM's driver is told the
 * type names our migrations wrote, as they wrote them (it lists fewer than SQLite takes, and
 * would call `int` `integer`), so the entities can say what the migrations made and its schema
 * builder compares like with like (test/entities.e2e-spec.ts).
 */
export function newDataSource(options: DataSourceOptions): DataSource {
  const dataSource = new DataSource(options);
  if (options.type === 'better-sqlite3') {
    const driver = dataSource.driver;
    const { supportedDataTypes, withLengthColumnTypes } = driver;
    supportedDataTypes.push(...SQLITE_TYPES_OF_OUR_MIGRATIONS.filter((t) => !supportedDataTypes.includes(t)));
    if (!withLengthColumnTypes.includes('char')) withLengthColumnTypes.push('char');
    const canonical = driver.normalizeType.bind(driver);
    driver.normalizeType = (column) => (column.type === 'int' ? 'int' : canonical(column));
  }
  return dataSource;
}

/** A partition's own database: its partition_N and partition_layout, nothing else. */
export function partitionDataSourceOptions(hostUrl: string, idx: number): DataSourceOptions {
  return serverOptions(hostUrl, {
    migrations: [partitionTableMigration(idx), PartitionLayout1767225600500],
    entities: partitionEntitiesFor(parseDbUrl(hostUrl).dialect, idx),
  });
}

/** the migrations that create a database's tables, and the entities that describe them */
export interface DatabaseTables {
  migrations: NonNullable<DataSourceOptions['migrations']>;
  entities: NonNullable<DataSourceOptions['entities']>;
}

function baseOptions(tables: DatabaseTables) {
  return {
    ...tables,
    migrationsRun: false, // run under a lock by DatabaseModule, see run-migrations.ts
    migrationsTransactionMode: 'each' as const,
    // the migrations are the schema's source of truth; test/entities.e2e-spec.ts shows the entities agree
    synchronize: false,
    logging: false,
  };
}

/**
 * A MySQL or PostgreSQL DataSource (migrations, entities and the start-up reads; the strategies'
 * statements go through MysqlPool or PgPool, which hold a DataSource of their own per host, see
 * DataSourcePool): the main one, or a partition's own database.
 * TypeORM connects to one host: given a multi-host URL it takes the first, and DatabaseModule
 * passes the host the pool found usable instead.
 */
export function serverOptions(url: string, tables: DatabaseTables): DataSourceOptions {
  const target = parseDbUrl(url);
  if (target.dialect === 'postgres') {
    return {
      ...baseOptions(tables),
      type: 'postgres',
      url: singleHostUrl(target, 0),
      connectTimeoutMS: DB_CONNECT_TIMEOUT_MS,
      extra: { max: 2, keepAlive: true, idleTimeoutMillis: 60_000, types: EXACT_TYPES },
    };
  }
  return {
    ...baseOptions(tables),
    type: 'mysql',
    connectorPackage: 'mysql2',
    url: singleHostUrl(target, 0),
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: DB_CONNECT_TIMEOUT_MS,
    extra: { connectionLimit: 2, enableKeepAlive: true, maxIdle: 2, idleTimeout: 60_000 },
  };
}

