import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, errorForLog, IdempotentIssuer } from '@app/core';
import { ServerIdempotencyStore, SQL_POOL, SqlPool, SQLITE_WRITER, sqliteHandle, SqliteIdempotencyStore, SqliteWriterThread } from '@app/database';
import { DataSource } from 'typeorm';

/** how long a pending Idempotency-Key row stays its first attempt's: past it, a retry takes it over */
const PENDING_STALE_MS = 30_000;
/** expired rows removed per statement, and statements per sweep */
const PURGE_BATCH = 1000;
const PURGE_BATCHES = 20;

export const idempotentIssuerProvider = {
  provide: IdempotentIssuer,
  inject: [APP_CONFIG, DataSource, SQL_POOL, SQLITE_WRITER],
  useFactory: (config: AppConfig, dataSource: DataSource, pool: SqlPool | null, writer: SqliteWriterThread | null) =>
    new IdempotentIssuer(pool !== null ? new ServerIdempotencyStore(pool) : new SqliteIdempotencyStore(sqliteHandle(dataSource), writer!), {
      ttlMs: config.IDEMPOTENCY_TTL_MS,
      waitMs: config.SEGMENT_WAIT_MS,
      pendingStaleMs: Math.max(PENDING_STALE_MS, config.SEGMENT_WAIT_MS * 2),
    }),
};

/** Expired Idempotency-Key rows removed in the background: a sweep of bounded batches every min(TTL, 60 s). */
@Injectable()
export class IdempotencyPurge implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('Idempotency');
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly issuer: IdempotentIssuer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.sweep(), Math.min(this.config.IDEMPOTENCY_TTL_MS, 60_000));
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      return await this.issuer.purgeExpired(PURGE_BATCH, PURGE_BATCHES);
    } catch (e) {
      this.log.warn(`removing expired Idempotency-Key rows failed: ${errorForLog(e)}`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
