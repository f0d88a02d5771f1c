import { BeforeApplicationShutdown, Logger, Module, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, GeneratorRegistry, Observations } from '@app/core';
import { ID_SECRET_KEY, SQL_POOL, SQLITE_WRITER, SqlPool, statementBudgetMs } from '@app/database';
import { DataSource } from 'typeorm';
import { SegmentAdmin } from './segment-admin';
import { segmentStoreFor } from './segment-store.provider';
import { SegmentGenerator } from './segment.generator';

export const SEGMENT_STORE = Symbol('SEGMENT_STORE');
const nestLogger = new Logger('Segment');
const logger = {
  error: (m: string) => nestLogger.error(m),
  warn: (m: string) => nestLogger.warn(m),
  info: (m: string) => nestLogger.log(m),
};

/** Wiring only: the store for the configured dialect, the generator, the admin operations. */
@Module({
  providers: [
    { provide: SEGMENT_STORE, inject: [APP_CONFIG, DataSource, SQL_POOL, SQLITE_WRITER], useFactory: segmentStoreFor },
    {
      provide: SegmentGenerator,
      inject: [SEGMENT_STORE, APP_CONFIG, Observations, ID_SECRET_KEY, SQL_POOL],
      useFactory: (store, config: AppConfig, observations: Observations, secretKey: Buffer | null, pool: SqlPool | null) =>
        new SegmentGenerator(store, {
          preload: config.SEGMENT_PRELOAD,
          waitMs: config.SEGMENT_WAIT_MS,
          stepMax: config.SEGMENT_STEP_MAX,
          dynamicStep: config.SEGMENT_DYNAMIC_STEP,
          pollMs: config.SEGMENT_POLL_MS,
          maxWaiters: config.SEGMENT_MAX_WAITERS,
          statementBudgetMs: statementBudgetMs(pool?.hostCount ?? 1),
          log: logger,
          onFetched: (key, ms) => observations.fetched('segment', key, ms),
          secretKey,
          periodClock: config.FORMAT_CLOCK_OFFSET_MS === 0 ? undefined : { now: () => Date.now() + config.FORMAT_CLOCK_OFFSET_MS },
        }),
    },
    {
      provide: SegmentAdmin,
      inject: [SEGMENT_STORE, SegmentGenerator, ID_SECRET_KEY, APP_CONFIG],
      useFactory: (store, generator, secretKey: Buffer | null, config: AppConfig) =>
        new SegmentAdmin(store, generator, logger, { publicAvailable: secretKey !== null, stepMax: config.SEGMENT_STEP_MAX }),
    },
  ],
  exports: [SegmentAdmin, SegmentGenerator, SEGMENT_STORE],
})
export class SegmentModule implements OnModuleInit, BeforeApplicationShutdown {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly generator: SegmentGenerator,
  ) {}

  onModuleInit(): void {
    this.registry.register(this.generator);
    this.generator.start();
  }

  beforeApplicationShutdown(): void {
    this.generator.close();
  }
}
