import type { AppConfig } from '@app/core';
import { MysqlPool, sqliteHandle } from '@app/database';
import type { DataSource } from 'typeorm';
import { MysqlSegmentStore } from './mysql-segment-store';
import { SqliteSegmentStore } from './sqlite-segment-store';
import { SegmentStore } from './segment-store';

export function segmentStoreFor(config: AppConfig, dataSource: DataSource, pool: MysqlPool | null): SegmentStore {
  return pool !== null
    ? new MysqlSegmentStore(pool)
    : new SqliteSegmentStore(sqliteHandle(dataSource));
}
