import { BeforeApplicationShutdown, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, GeneratorRegistry, IdError, Observations } from '@app/core';
import { MYSQL_POOL, MysqlPool, mysqlOptions, partitionPlacements, partitionTableMigration, runMigrations, sqliteHandle } from '@app/database';
import { DataSource } from 'typeorm';
import { MysqlPartitionStore, PartitionStore, SqlitePartitionStore } from './partition-store';
import { PartitionedSource } from './partitioned-source';
import { PartitionGenerator } from './partition.generator';
import { SegmentBuffer } from './segment-buffer';

const nestLogger = new Logger('Partition');
const log = { error: (m: string) => nestLogger.error(m), warn: (m: string) => nestLogger.warn(m) };

/**
 * A partition in a database of its own: connected (and its table migrated) in the background,
 * so a partition database that is down at start does not stop the others from serving.
 */
class RemotePartitionStore implements PartitionStore {
  private store?: PartitionStore;
  private connecting?: Promise<PartitionStore>;
  pool?: MysqlPool;

  constructor(
    readonly idx: number,
    private readonly url: string,
  ) {}

  private connect(): Promise<PartitionStore> {
    if (this.store) return Promise.resolve(this.store);
    this.connecting ??= (async () => {
      const pool = new MysqlPool(this.url, { name: `partition ${this.idx}`, logger: nestLogger });
      try {
        // the table is migrated through TypeORM on the host the pool found usable
        const ds = new DataSource(mysqlOptions(await pool.usableHostUrl(), [partitionTableMigration(this.idx)]));
        try {
          await ds.initialize();
          await runMigrations(ds);
        } finally {
          await ds.destroy().catch(() => undefined);
        }
      } catch (e) {
        await pool.end();
        throw new IdError('DATABASE_UNAVAILABLE', `partition ${this.idx} database unavailable: ${(e as Error).message}`, { cause: e });
      }
      this.pool = pool;
      this.store = new MysqlPartitionStore(this.idx, pool);
      return this.store;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async allocate(): Promise<bigint> {
    return (await this.connect()).allocate();
  }
  async current(): Promise<bigint> {
    return (await this.connect()).current();
  }
  async skipTo(next: bigint): Promise<void> {
    return (await this.connect()).skipTo(next);
  }
}

/** Wiring only: partition stores from PARTITIONS (or P = 1 on the main database), the buffer, the generator. */
@Module({
  providers: [
    {
      provide: PartitionGenerator,
      inject: [APP_CONFIG, DataSource, MYSQL_POOL, Observations],
      useFactory: (config: AppConfig, main: DataSource, mainPool: MysqlPool | null, observations: Observations) => {
        const placements = partitionPlacements(config);
        const stores = placements.map((p): PartitionStore => {
          if (p.url !== undefined) return new RemotePartitionStore(p.idx, p.url);
          return mainPool !== null
            ? new MysqlPartitionStore(p.idx, mainPool)
            : new SqlitePartitionStore(p.idx, sqliteHandle(main));
        });
        const source = new PartitionedSource(stores, placements[0].total, config.PARTITION_SEGMENT_SIZE, log);
        const buffer = new SegmentBuffer('partition', source, {
          preload: config.SEGMENT_PRELOAD,
          waitMs: config.SEGMENT_WAIT_MS,
          step: config.PARTITION_SEGMENT_SIZE,
          stepMax: config.PARTITION_SEGMENT_SIZE,
          dynamicStep: false,
          onFetchError: () => undefined, // the source logs per partition
          onFetched: (range, ms) => observations.fetched('partition', range.lane ?? '', ms),
        });
        return new PartitionGenerator(source, buffer, stores);
      },
    },
  ],
  exports: [PartitionGenerator],
})
export class PartitionModule implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly generator: PartitionGenerator,
  ) {}

  onModuleInit(): void {
    this.registry.register(this.generator);
  }

  beforeApplicationShutdown(): void {
    this.generator.close();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const store of this.generator.stores) {
      if (store instanceof RemotePartitionStore) await store.pool?.end();
    }
  }
}
