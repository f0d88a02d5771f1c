import { databaseUnavailable } from '@app/core';
import type BetterSqlite3 from 'better-sqlite3';
import type { DataSource } from 'typeorm';

/**
 * better-sqlite3's Database under TypeORM's driver: statements that need exact 64-bit integers
 * run here with safeIntegers (TypeORM's SQLite driver rounds above 2^53).
 */
export function sqliteHandle(dataSource: DataSource): BetterSqlite3.Database {
  return (dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database }).databaseConnection;
}

/** A SQLite error that means "the database cannot serve now" becomes DATABASE_UNAVAILABLE; others pass. */
export function sqliteUnavailable(e: unknown): unknown {
  const code = (e as { code?: string } | null)?.code ?? '';
  return /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL)/.test(code)
    ? databaseUnavailable(e)
    : e;
}
