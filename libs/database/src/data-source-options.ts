import type { AppConfig } from '@app/core';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { migrationsFor, partitionTableMigration } from './migrations';
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
  if (config.DB_TYPE === 'sqlite') {
    const database = resolve(config.SQLITE_PATH);
    mkdirSync(dirname(database), { recursive: true });
    return { ...baseOptions(migrations), type: 'better-sqlite3', database, prepareDatabase: prepareSqlite };
  }
  return serverOptions(serverUrl(config.DATABASE_URL as string), migrations);
}

function baseOptions(migrations: DataSourceOptions['migrations']) {
  return {
    migrations,
    migrationsRun: false, // run under a lock by DatabaseModule, see run-migrations.ts
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    logging: false,
    entities: [],
  };
}

/**
 * A MySQL or PostgreSQL DataSource (migrations only; statements go through MysqlPool or PgPool):
 * the main one, or a partition's own database. TypeORM connects to one host: given a multi-host
 * URL it takes the first, and DatabaseModule passes the host the pool found usable instead.
 */
export function serverOptions(url: string, migrations: DataSourceOptions['migrations']): DataSourceOptions {
  const target = parseDbUrl(url);
  if (target.dialect === 'postgres') {
    return {
      ...baseOptions(migrations),
      type: 'postgres',
      url: singleHostUrl(target, 0),
      connectTimeoutMS: DB_CONNECT_TIMEOUT_MS,
      extra: { max: 2, keepAlive: true, idleTimeoutMillis: 60_000, types: EXACT_TYPES },
    };
  }
  return {
    ...baseOptions(migrations),
    type: 'mysql',
    connectorPackage: 'mysql2',
    url: singleHostUrl(target, 0),
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: DB_CONNECT_TIMEOUT_MS,
    extra: { connectionLimit: 2, enableKeepAlive: true, maxIdle: 2, idleTimeout: 60_000 },
  };
}

