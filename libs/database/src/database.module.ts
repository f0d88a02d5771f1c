import { DynamicModule, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '@app/core';
import { DataSource } from 'typeorm';
import { dataSourceOptions, mysqlUrl } from './data-source-options';
import { ID_SECRET_KEY, verifyIdSecret } from './id-secret';
import { MysqlPool } from './mysql-pool';
import { runMigrations } from './run-migrations';

/** Injection token: the main database's MysqlPool (DB_TYPE=mysql), or null on SQLite. */
export const MYSQL_POOL = Symbol('MYSQL_POOL');

/**
 * The database from the configuration, migrated before any strategy starts. On MySQL the
 * statements go through MysqlPool (multi-host failover, deadlines, retries); TypeORM's
 * DataSource runs the migrations on the host MysqlPool found usable. On SQLite strategies reach
 * the file through the DataSource.
 */
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(MYSQL_POOL) private readonly pool: MysqlPool | null) {}

  static forRoot(config: AppConfig): DynamicModule {
    const logger = new Logger('Database');
    const pool = config.DB_TYPE === 'mysql' ? new MysqlPool(mysqlUrl(config.DATABASE_URL as string), { logger }) : null;
    return {
      module: DatabaseModule,
      global: true,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(config), retryAttempts: 5, retryDelay: 2000 }),
          dataSourceFactory: async (options) => {
            const onHost = pool ? { ...options!, url: await pool.usableHostUrl() } : options!;
            const dataSource = await new DataSource(onHost as typeof options & object).initialize();
            try {
              const applied = await runMigrations(dataSource);
              logger.log(
                `${config.DB_TYPE} ready${pool && pool.hostCount > 1 ? ` on host ${pool.status().inUse}` : ''}${applied.length ? `; applied migrations: ${applied.join(', ')}` : '; schema up to date'}`,
              );
            } catch (e) {
              await dataSource.destroy().catch(() => undefined);
              throw e;
            }
            return dataSource;
          },
        }),
      ],
      providers: [
        { provide: MYSQL_POOL, useValue: pool },
        { provide: ID_SECRET_KEY, inject: [DataSource], useFactory: (ds: DataSource) => verifyIdSecret(config, ds) },
      ],
      exports: [TypeOrmModule, ID_SECRET_KEY, MYSQL_POOL],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.end();
  }
}
