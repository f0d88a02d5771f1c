import type BetterSqlite3 from 'better-sqlite3';
import type { DataSource } from 'typeorm';

/**
 * better-sqlite3's Database under TypeORM's driver: statements that need exact 64-bit integers
 * run here with safeIntegers (TypeORM's SQLite driver rounds above 2^53).
 */
export function sqliteHandle(dataSource: DataSource): BetterSqlite3.Database {
  return (dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database }).databaseConnection;
}
