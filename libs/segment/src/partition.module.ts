import { BeforeApplicationShutdown, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, databaseUnavailable, GeneratorRegistry, IdError, Observations, StartupError } from '@app/core';
import {
  SQL_POOL,
  openSqlPool,
  partitionEntitiesFor,
  parseDbUrl,
  serverOptions,
  serverUrl,
  SqlPool,
  statementBudgetMs,
  newDataSource,
  partitionDataSourceOptions,
  partitionPlacements,
  runMigrations,
  sqliteHandle,
  SQLITE_WRITER,
  SqliteWriterThread,
} from '@app/database';
import { DataSource } from 'typeorm';
import { ConfiguredLayout, describeLayout, NEW_LAYOUT_SEGMENT_SIZE } from './partition-layout';
import { LayoutRefused, PartitionLayoutKeeper } from './partition-layout-keeper';
import { LayoutFence, ServerPartitionStore, PartitionPollAnswer, PartitionStore, SqlitePartitionStore } from './partition-store';
import { PartitionWatch } from './partition-watch';
import { PartitionedSource, publishedPartitionTargets } from './partitioned-source';
import { TARGET_FRESH_POLLS } from './segment-sql';
import { SegmentStore } from './segment-store';
import { SEGMENT_STORE, SegmentModule } from './segment.module';
import { SegmentGenerator } from './segment.generator';
import { PartitionGenerator } from './partition.generator';

const nestLogger = new Logger('Partition');
const log = {
  error: (m: string) => nestLogger.error(m),
  warn: (m: string) => nestLogger.warn(m),
  info: (m: string) => nestLogger.log(m),
};

/**
 * A partition in a database of its own: connected (and its tables migrated) in the background,
 * so a partition database that is down at start does not stop the others from serving.
 */
export class RemotePartitionStore implements PartitionStore {
  private store?: PartitionStore;
  private connecting?: Promise<PartitionStore>;
  pool?: SqlPool;

  constructor(
    readonly idx: number,
    private readonly url: string,
  ) {}

  private connect(): Promise<PartitionStore> {
    if (this.store) return Promise.resolve(this.store);
    this.connecting ??= (async () => {
      const pool = openSqlPool(this.url, {
        name: `partition ${this.idx}`,
        logger: nestLogger,
        entities: partitionEntitiesFor(parseDbUrl(this.url).dialect, this.idx),
      });
      try {
        // the table is migrated through TypeORM on the host the pool found usable
        const ds = newDataSource(partitionDataSourceOptions(await pool.usableHostUrl(), this.idx));
        try {
          await ds.initialize();
          await runMigrations(ds);
        } finally {
          await ds.destroy().catch(() => undefined);
        }
      } catch (e) {
        await pool.end();
        throw databaseUnavailable(e, `the database of partition ${this.idx}`);
      }
      this.pool = pool;
      this.store = new ServerPartitionStore(this.idx, pool);
      return this.store;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async allocate(): Promise<{ n: bigint; version: number }> {
    return (await this.connect()).allocate();
  }
  async current(): Promise<bigint> {
    return (await this.connect()).current();
  }
  async readLayout(completeBelow?: number) {
    return (await this.connect()).readLayout(completeBelow);
  }
  async insertLayout(...args: Parameters<PartitionStore['insertLayout']>): Promise<void> {
    return (await this.connect()).insertLayout(...args);
  }
  async fence(fence: LayoutFence, expected: number): Promise<bigint> {
    return (await this.connect()).fence(fence, expected);
  }
  async completeLayout(version: number, base: bigint): Promise<void> {
    return (await this.connect()).completeLayout(version, base);
  }
  async skipTo(next: bigint): Promise<void> {
    return (await this.connect()).skipTo(next);
  }
  async poll(): Promise<PartitionPollAnswer> {
    return (await this.connect()).poll();
  }
  async close(): Promise<void> {
    await this.pool?.end();
  }
}

/**
 * Partitions recorded in the main database but placed elsewhere now: ids drawn there would be
 * drawn again from the new place.
 */
async function refuseMovedPartitions(main: DataSource, onMain: Set<number>): Promise<void> {
  const rows: { idx: unknown; total: unknown; segment_size: unknown; layout_id: unknown }[] = await main.query(
    'SELECT idx, total, segment_size, layout_id FROM partition_layout ORDER BY version DESC',
  );
  const moved = rows.find((r) => !onMain.has(Number(r.idx)));
  if (moved === undefined) return;
  throw new StartupError(
    `partition ${moved.idx}: the main database records it (${describeLayout({ total: Number(moved.total), segmentSize: Number(moved.segment_size), layoutId: String(moved.layout_id) })}), ` +
      `but the configuration places it in another database (PARTITIONS): the ids drawn there would be drawn again. ` +
      'Keep the partition in the main database, or re-base (POST /admin/partitions/rebase) passing the new databases.',
  );
}

export class PartitionRuntime {
  constructor(
    readonly generator: PartitionGenerator,
    readonly keeper: PartitionLayoutKeeper,
    readonly watch: PartitionWatch,
    readonly stores: PartitionStore[],
  ) {}
}

/** Wiring only: partition stores from PARTITIONS (or P = 1 on the main database), the buffer, the generator, the layout check and the poll. */
@Module({
  imports: [SegmentModule],
  providers: [
    {
      provide: PartitionRuntime,
      inject: [APP_CONFIG, DataSource, SQL_POOL, Observations, SQLITE_WRITER, SEGMENT_STORE, SegmentGenerator],
      useFactory: (
        config: AppConfig,
        main: DataSource,
        mainPool: SqlPool | null,
        observations: Observations,
        writer: SqliteWriterThread | null,
        segmentStore: SegmentStore,
        segments: SegmentGenerator,
      ) => {
        const placements = partitionPlacements(config);
        const mainHosts = mainPool?.hostCount ?? 1;
        const stores = placements.map((p): PartitionStore => {
          if (p.url !== undefined) return new RemotePartitionStore(p.idx, p.url);
          return mainPool !== null
            ? new ServerPartitionStore(p.idx, mainPool)
            : new SqlitePartitionStore(p.idx, sqliteHandle(main), writer!);
        });
        const source = new PartitionedSource(
          stores,
          placements[0].total,
          log,
          undefined,
          {
            preload: config.SEGMENT_PRELOAD,
            waitMs: config.SEGMENT_WAIT_MS,
            // unused: the source's ranges are the recorded layout's segments
            step: config.PARTITION_SEGMENT_SIZE ?? NEW_LAYOUT_SEGMENT_SIZE,
            stepMax: config.PARTITION_SEGMENT_SIZE ?? NEW_LAYOUT_SEGMENT_SIZE,
            onFetchError: () => undefined, // the source logs per partition
            onFetched: (range, ms) => observations.fetched('partition', range.lane ?? '', ms),
          },
          // in id_segment_halt beside the keys' targets, under the same instance id and freshness
          publishedPartitionTargets(segmentStore, TARGET_FRESH_POLLS * config.SEGMENT_POLL_MS + statementBudgetMs(mainHosts)),
          segments.instanceId,
          // a poll sent every period answers within one statement's budget on its own database
          config.SEGMENT_POLL_MS +
            Math.max(...placements.map((p) => statementBudgetMs(p.url === undefined ? mainHosts : parseDbUrl(serverUrl(p.url)).hosts.length))),
        );
        const keeper = new PartitionLayoutKeeper(
          stores,
          source,
          { total: placements[0].total, segmentSize: config.PARTITION_SEGMENT_SIZE },
          config.PARTITION_ADOPT_LAYOUT,
          log,
        );
        const watch = new PartitionWatch(stores, source, keeper, config.SEGMENT_POLL_MS);
        const rebase = async (target: ConfiguredLayout, extra: { idx: number; url: string }[]) => {
          const opened = extra.map((e) => new RemotePartitionStore(e.idx, serverUrl(e.url)));
          try {
            return await keeper.rebase(target, opened);
          } finally {
            await Promise.all(opened.map((s) => s.close()));
          }
        };
        return new PartitionRuntime(new PartitionGenerator(source, source.buffer, rebase, source.skipAppliedWithinMs), keeper, watch, stores);
      },
    },
    { provide: PartitionGenerator, inject: [PartitionRuntime], useFactory: (runtime: PartitionRuntime) => runtime.generator },
  ],
  exports: [PartitionGenerator],
})
export class PartitionModule implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly runtime: PartitionRuntime,
    private readonly main: DataSource,
  ) {}

  /** the layout is checked before the app listens: a mismatch is a start-up refusal */
  async onModuleInit(): Promise<void> {
    this.registry.register(this.runtime.generator);
    const onMain = new Set(this.runtime.stores.filter((s) => !(s instanceof RemotePartitionStore)).map((s) => s.idx));
    await refuseMovedPartitions(this.main, onMain);
    try {
      await this.runtime.keeper.check(true);
    } catch (e) {
      if (e instanceof LayoutRefused) throw new StartupError(e.message);
      throw e;
    }
    this.runtime.watch.start();
  }

  beforeApplicationShutdown(): void {
    this.runtime.watch.stop();
    this.runtime.generator.close();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const store of this.runtime.stores) {
      if (store instanceof RemotePartitionStore) await store.close();
    }
  }
}
