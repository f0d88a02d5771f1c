import type { AppConfig } from '@app/core';
import { SqlPool, sqliteHandle, SqliteWriterThread } from '@app/database';
import type { DataSource } from 'typeorm';
import { readServerSegmentTable, ServerSegmentStore } from './server-segment-store';
import { readSqliteSegmentTable, SqliteSegmentStore } from './sqlite-segment-store';
import { SegmentStore } from './segment-store';

/**
 * The store for the configured dialect on SEGMENT_TABLE, its columns read first: a table that
 * cannot serve stops the start with one line (ConfigError).
 */
export async function segmentStoreFor(
  config: AppConfig,
  dataSource: DataSource,
  pool: SqlPool | null,
  writer: SqliteWriterThread | null,
): Promise<SegmentStore> {
  if (pool !== null) return new ServerSegmentStore(pool, await readServerSegmentTable(pool, config.SEGMENT_TABLE));
  const db = sqliteHandle(dataSource);
  return new SqliteSegmentStore(db, writer!, readSqliteSegmentTable(db, config.SEGMENT_TABLE));
}
