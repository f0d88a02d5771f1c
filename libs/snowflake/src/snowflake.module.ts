import { BeforeApplicationShutdown, Inject, Logger, Module, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig, EXIT, GeneratorRegistry, StartupError, systemClock } from '@app/core';
import { DB_QUERY_TIMEOUT_MS, ID_SECRET_KEY, openSqlPool, serverUrl, SqlPool, SQLITE_WRITER, SqliteWriterThread } from '@app/database';
import { BitPermutation } from '@app/fpe';
import { SnowflakeGenerator } from './snowflake-generator';
import { SnowflakeLayout } from './snowflake-layout';
import { SnowflakeIdGenerator } from './snowflake.generator';
import { snowflakeLayout, workerIdSetting } from './snowflake.settings';
import { WorkerLease, WorkerLeaseStore } from './worker-lease';
import { MysqlWorkerLeaseStore } from './worker-lease.mysql';
import { PgWorkerLeaseStore } from './worker-lease.postgres';
import { SqliteWorkerLeaseStore } from './worker-lease.sqlite';

/** The lease's own MySQL connection (null on SQLite). */
const LEASE_POOL = Symbol('LEASE_POOL');

/** What ends the process when the clock stays behind a reservation; tests may replace it. */
export const SNOWFLAKE_FATAL = Symbol('SNOWFLAKE_FATAL');

/** a refusal to go on (the clock stayed behind the reservation): one line, exit 2 (EXIT.REFUSED) */
const exitProcess = (message: string) => {
  process.stderr.write(`id-allocator: ${message}\n`);
  process.exit(EXIT.REFUSED);
};

/**
 * Registers `snowflake`: wiring only. The lease is taken before the app listens when that is
 * quick (so a normal start is ready at once) and in the background otherwise (not ready,
 * saying why). On shutdown the generator stops and the lease is released, keeping its
 * reservation, in beforeApplicationShutdown: before TypeORM closes the DataSource in its own
 * onApplicationShutdown.
 */
@Module({
  providers: [
    { provide: SNOWFLAKE_FATAL, useValue: exitProcess },
    {
      // one connection of its own, failing over like the main pool: statements queued on the
      // shared pool (a flood of unknown keys) cannot delay a renewal
      provide: LEASE_POOL,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.DB_TYPE !== 'sqlite'
          ? openSqlPool(serverUrl(config.DATABASE_URL as string), {
              connectionLimit: 1,
              timeoutMs: Math.min(DB_QUERY_TIMEOUT_MS, Math.max(250, config.SNOWFLAKE_RENEW_MS)),
              name: 'snowflake lease',
              logger: new Logger('Snowflake'),
            })
          : null,
    },
    {
      provide: SnowflakeLayout,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const layout = snowflakeLayout(config, systemClock.now());
        if (config.SNOWFLAKE_PERMUTE && layout.workerBits + layout.sequenceBits < 20) {
          throw new StartupError(
            `SNOWFLAKE_PERMUTE needs at least 20 low (worker + sequence) bits; SNOWFLAKE_BITS ${layout.describe()} has ${layout.workerBits + layout.sequenceBits}`,
          );
        }
        return layout;
      },
    },
    {
      provide: WorkerLease,
      inject: [APP_CONFIG, SnowflakeLayout, DataSource, LEASE_POOL, SNOWFLAKE_FATAL, SQLITE_WRITER],
      useFactory: (
        config: AppConfig,
        layout: SnowflakeLayout,
        dataSource: DataSource,
        pool: SqlPool | null,
        onFatal: (m: string) => void,
        writer: SqliteWriterThread | null,
      ) => {
        const host = process.env.HOSTNAME || hostname();
        const setting = workerIdSetting(config, layout, host);
        const store: WorkerLeaseStore =
          pool === null
            ? new SqliteWorkerLeaseStore(dataSource, writer ?? undefined)
            : pool.dialect === 'postgres'
              ? new PgWorkerLeaseStore(pool)
              : new MysqlWorkerLeaseStore(pool);
        const logger = new Logger('Snowflake');
        logger.log(
          `layout ${layout.describe()}: last valid date ${new Date(layout.lastValidMs).toISOString()}; worker id ${
            setting.mode === 'lease' ? `leased from ${setting.from}-${setting.to}` : `${setting.mode} ${setting.workerId}`
          }`,
        );
        return new WorkerLease({
          store,
          clock: systemClock,
          setting,
          claimant: { instanceId: randomUUID(), host, pid: process.pid },
          leaseMs: config.SNOWFLAKE_LEASE_MS,
          reserveMs: config.SNOWFLAKE_RESERVE_MS,
          maxSkewMs: config.SNOWFLAKE_MAX_SKEW_MS,
          renewMs: config.SNOWFLAKE_RENEW_MS,
          startWaitMs: config.SNOWFLAKE_START_WAIT_MS,
          onFatal,
          logger,
        });
      },
    },
    {
      provide: SnowflakeIdGenerator,
      inject: [APP_CONFIG, SnowflakeLayout, WorkerLease, ID_SECRET_KEY],
      useFactory: (config: AppConfig, layout: SnowflakeLayout, lease: WorkerLease, secretKey: Buffer | null) => {
        // verifyIdSecret refused to start with PERMUTE and no secret; the same secret on every instance
        const permute =
          config.SNOWFLAKE_PERMUTE && secretKey ? new BitPermutation(layout.workerBits + layout.sequenceBits, secretKey, 'snowflake') : undefined;
        const generator = new SnowflakeGenerator({
          permute,
          layout,
          clock: systemClock,
          permits: lease,
          maxBackwardMs: config.SNOWFLAKE_MAX_BACKWARD_MS,
          // a full batch never waits once the clock is current
          maxBorrowMs: Math.max(16, Math.ceil(config.MAX_COUNT / (layout.maxSequence + 1)) + 1),
        });
        lease.issuedBy(generator);
        return new SnowflakeIdGenerator(layout, generator, lease, systemClock, permute);
      },
    },
  ],
  exports: [SnowflakeIdGenerator],
})
export class SnowflakeModule implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly generator: SnowflakeIdGenerator,
    private readonly lease: WorkerLease,
    @Inject(LEASE_POOL) private readonly leasePool: SqlPool | null,
  ) {}

  onModuleInit(): void {
    this.registry.register(this.generator);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.lease.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.lease.stop();
    await this.leasePool?.end();
  }
}
