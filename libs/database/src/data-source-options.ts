import type { AppConfig } from '@app/core';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from './migrations';

/** Bounds that make a dead or silent database fail fast instead of hanging a request. */
export const MYSQL_CONNECT_TIMEOUT_MS = 2000;
export const MYSQL_QUERY_TIMEOUT_MS = 2000;

/** Applied on every open of the SQLite file, by the app and by the migration CLI alike. */
export function prepareSqlite(db: { pragma(source: string): unknown }): void {
  db.pragma('journal_mode = WAL');
  // better-sqlite3 leaves WAL at synchronous=NORMAL, which can lose the last fetched segment on
  // power loss and then issue its ids again.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
}

/** mysql://user:pass@host:port/db, mariadb:// accepted as the same. */
export function mysqlUrl(url: string): string {
  return url.replace(/^mariadb:\/\//, 'mysql://');
}

export function dataSourceOptions(config: AppConfig): DataSourceOptions {
  const common = {
    migrations: MIGRATIONS,
    migrationsRun: false, // run under a lock by DatabaseModule, see run-migrations.ts
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    logging: false,
    entities: [],
  };
  if (config.DB_TYPE === 'sqlite') {
    const database = resolve(config.SQLITE_PATH);
    mkdirSync(dirname(database), { recursive: true });
    return { ...common, type: 'better-sqlite3', database, prepareDatabase: prepareSqlite };
  }
  return {
    ...common,
    type: 'mysql',
    connectorPackage: 'mysql2',
    url: mysqlUrl(config.DATABASE_URL as string),
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: MYSQL_CONNECT_TIMEOUT_MS,
    extra: { connectionLimit: 10, enableKeepAlive: true, maxIdle: 10, idleTimeout: 60_000 },
  };
}
