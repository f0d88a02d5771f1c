import type { ValueTransformer } from 'typeorm';
import type { AppConfig } from '@app/core';

/** The dialects the migrations write DDL for (DB_TYPE). */
export type SqlDialect = AppConfig['DB_TYPE'];

/**
 * One value per dialect: where the migrations' DDL differs between dialects, the entity says so
 * in one place, and a dialect added to DB_TYPE fails to compile until every table names its shape.
 */
export function perDialect<T>(dialect: SqlDialect, values: Record<SqlDialect, T>): T {
  return values[dialect];
}

/** `CURRENT_TIMESTAMP` as a column default */
export const NOW = () => 'CURRENT_TIMESTAMP';

/**
 * `id INTEGER PRIMARY KEY AUTOINCREMENT` as our SQLite migrations write it (ticket, partition_N).
 * TypeORM's SQLite reader only finds AUTOINCREMENT after a quoted column name and reads a rowid
 * key without NOT NULL as nullable, so the entity says what it can compare: the ids are handed
 * out by the hand-written REPLACE statements, never by an insert through the entity.
 */
export const SQLITE_AUTOINCREMENT_ID = { type: 'integer', primary: true, nullable: true } as const;

/**
 * BIGINT columns read as decimal strings, exact on MySQL (bigNumberStrings). TypeORM's SQLite
 * driver reads them as numbers, exact to 2^53 only: exact 64-bit reads on SQLite go through the
 * better-sqlite3 handle with safe integers (sqliteHandle), as the stores do.
 */
export const DECIMAL_STRING: ValueTransformer = {
  from: (value: unknown) => (value === null || value === undefined ? value : String(value)),
  to: (value: unknown) => value,
};

/** a column declared int here and BIGINT in a table another service made (go-id-alloc's step) */
export const NUMBER: ValueTransformer = {
  from: (value: unknown) => (value === null || value === undefined ? value : Number(value)),
  to: (value: unknown) => value,
};

/** keys compared byte for byte: MySQL's binary collation (SQLite compares binary by default) */
export const BIN = (dialect: SqlDialect) => perDialect(dialect, { mysql: 'utf8mb4_bin', sqlite: undefined });
