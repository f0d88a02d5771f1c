import { DynamicModule, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '@app/core';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source-options';
import { ID_SECRET_KEY, verifyIdSecret } from './id-secret';
import { runMigrations } from './run-migrations';

/**
 * The TypeORM DataSource from the configuration, migrated before any strategy starts.
 * Strategies reach the driver through it for their few hot statements.
 */
@Module({})
export class DatabaseModule {
  static forRoot(config: AppConfig): DynamicModule {
    const logger = new Logger('Database');
    return {
      module: DatabaseModule,
      global: true,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(config), retryAttempts: 5, retryDelay: 2000 }),
          dataSourceFactory: async (options) => {
            const dataSource = await new DataSource(options!).initialize();
            try {
              const applied = await runMigrations(dataSource);
              logger.log(
                `${config.DB_TYPE} ready${applied.length ? `; applied migrations: ${applied.join(', ')}` : '; schema up to date'}`,
              );
            } catch (e) {
              await dataSource.destroy().catch(() => undefined);
              throw e;
            }
            return dataSource;
          },
        }),
      ],
      providers: [{ provide: ID_SECRET_KEY, inject: [DataSource], useFactory: (ds: DataSource) => verifyIdSecret(config, ds) }],
      exports: [TypeOrmModule, ID_SECRET_KEY],
    };
  }
}
