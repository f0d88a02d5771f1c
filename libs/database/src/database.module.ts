import { DynamicModule, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '@app/core';
import { DataSource } from 'typeorm';
import { dataSourceOptions, mysqlUrl } from './data-source-options';
import { checkMysqlAtStart, databaseStartupFailure, sqliteStartupFailure } from './startup-check';
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
          // one attempt: a start-up failure is reported once, as one line, and the process exits 2
          // (an orchestrator restarts it; retrying here only delays the message)
          useFactory: () => {
            try {
              return { ...dataSourceOptions(config), toRetry: () => false };
            } catch (e) {
              throw config.DB_TYPE === 'sqlite' ? sqliteStartupFailure(config.SQLITE_PATH, e) : e;
            }
          },
          dataSourceFactory: async (options) => {
            let dataSource: DataSource;
            const url = config.DB_TYPE === 'mysql' ? mysqlUrl(config.DATABASE_URL!) : undefined;
            const answered = url === undefined ? undefined : await checkMysqlAtStart('DATABASE_URL', url);
            try {
              dataSource = await new DataSource(options!).initialize();
            } catch (e) {
              // after a passing check: the database went away meanwhile
              throw url === undefined ? sqliteStartupFailure(config.SQLITE_PATH, e) : databaseStartupFailure('DATABASE_URL', url, [{ ...answered!, error: e }]);
            }
            try {
              const applied = await runMigrations(dataSource);
              // a migration is news; an up-to-date schema is start-up detail
              if (applied.length > 0) logger.log(`${config.DB_TYPE}: applied migrations ${applied.join(', ')}`);
              else logger.debug(`${config.DB_TYPE}: schema up to date`);
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
