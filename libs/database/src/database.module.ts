import { DynamicModule, Inject, Logger, Module, OnApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '@app/core';
import { DataSource } from 'typeorm';
import { dataSourceOptions, newDataSource, partitionPlacements, serverUrl } from './data-source-options';
import { entitiesFor, ownSegmentTable } from './entities';
import { ID_SECRET_KEY, verifyIdSecret } from './id-secret';
import { openSqlPool } from './open-sql-pool';
import { runMigrations } from './run-migrations';
import { parseDbUrl, SqlPool } from './sql-pool';
import { checkDatabaseAtStart, databaseStartupFailure, sqliteStartupFailure, startupWarnings } from './startup-check';
import { sqliteWriterFor, SqliteWriterThread } from './sqlite-writer-thread';

/** Injection token: the main database's SqlPool (MysqlPool for DB_TYPE=mysql, PgPool for postgres), or null on SQLite. */
export const SQL_POOL = Symbol('SQL_POOL');
/** Injection token: the SqliteWriterThread of the SQLite file (DB_TYPE=sqlite), or null on a server database. */
export const SQLITE_WRITER = Symbol('SQLITE_WRITER');

/**
 * The database from the configuration, migrated before any strategy starts. On MySQL and
 * PostgreSQL the statements go through the SqlPool (multi-host failover, deadlines, retries);
 * TypeORM's DataSource runs the migrations on the host the pool found usable. On SQLite strategies
 * reach the file through the DataSource.
 */
/**
 * Settings of the host in use that weaken the no-duplicate guarantee, one warning line each (see
 * startupWarnings). A warning, not a refusal: the operator may know better (a test box), and a
 * failover moves to hosts checked only when used. Not being able to read them is no reason to stop.
 */
async function warnAboutServer(hostUrl: string, logger: Logger, pending: string[]): Promise<void> {
  const { host, port } = parseDbUrl(hostUrl).hosts[0];
  try {
    pending.push(...(await startupWarnings(hostUrl, `${host}:${port}`)));
  } catch (e) {
    logger.debug(`${host}:${port}: could not read the server settings to check: ${(e as Error).message}`);
  }
}

/** setting warnings found while connecting, logged once the start has not been refused */
const STARTUP_WARNINGS = Symbol('STARTUP_WARNINGS');

@Module({})
export class DatabaseModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Database');

  constructor(
    @Inject(SQL_POOL) private readonly pool: SqlPool | null,
    @Inject(SQLITE_WRITER) private readonly writer: SqliteWriterThread | null,
    @Inject(STARTUP_WARNINGS) private readonly warnings: string[],
  ) {}

  /** after every module's start-up step: a refused start stays one line */
  onApplicationBootstrap(): void {
    for (const line of this.warnings.splice(0)) this.logger.warn(line);
  }

  static forRoot(config: AppConfig): DynamicModule {
    const logger = new Logger('Database');
    const warnings: string[] = [];
    const url = config.DB_TYPE === 'sqlite' ? undefined : serverUrl(config.DATABASE_URL as string);
    // the stores' repositories: the same entities as the DataSource that runs the migrations
    const entities = () =>
      entitiesFor(
        config.DB_TYPE,
        ownSegmentTable(config.SEGMENT_TABLE),
        partitionPlacements(config)
          .filter((p) => p.url === undefined)
          .map((p) => p.idx),
      );
    const pool = url === undefined ? null : openSqlPool(url, { logger, entities: entities() });
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
            // each host tried once (a refused connection fails at once): one line naming them all
            const answered = url === undefined ? undefined : await checkDatabaseAtStart('DATABASE_URL', url);
            try {
              const hostUrl = pool ? await pool.usableHostUrl() : undefined;
              if (hostUrl !== undefined) await warnAboutServer(hostUrl, logger, warnings);
              const onHost = hostUrl !== undefined ? { ...options!, url: hostUrl } : options!;
              dataSource = await newDataSource(onHost as typeof options & object).initialize();
            } catch (e) {
              // after a passing check: the database went away meanwhile, or no host is writable
              throw url === undefined ? sqliteStartupFailure(config.SQLITE_PATH, e) : databaseStartupFailure('DATABASE_URL', url, [{ ...answered!, error: e }]);
            }
            try {
              const applied = await runMigrations(dataSource);
              const where = pool && pool.hostCount > 1 ? ` on host ${pool.status().inUse}` : '';
              // a migration is news; an up-to-date schema is start-up detail
              if (applied.length > 0) logger.log(`${config.DB_TYPE}${where}: ${appliedLine(applied)}`);
              else logger.debug(`${config.DB_TYPE}${where}: schema up to date`);
            } catch (e) {
              await dataSource.destroy().catch(() => undefined);
              throw e;
            }
            return dataSource;
          },
        }),
      ],
      providers: [
        { provide: SQL_POOL, useValue: pool },
        { provide: STARTUP_WARNINGS, useValue: warnings },
        { provide: SQLITE_WRITER, inject: [DataSource], useFactory: (ds: DataSource) => (pool === null ? sqliteWriterFor(ds) : null) },
        { provide: ID_SECRET_KEY, inject: [DataSource], useFactory: (ds: DataSource) => verifyIdSecret(config, ds) },
      ],
      exports: [TypeOrmModule, ID_SECRET_KEY, SQL_POOL, SQLITE_WRITER],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.end();
    await this.writer?.close();
  }
}

/**
 * The start-up line for the migrations just applied: a new database applies all of them, and the
 * list of ten names made the longest line of a first start. The first and last name say which
 * range; `npm run migration:show` lists each.
 */
export function appliedLine(applied: readonly string[]): string {
  if (applied.length <= 2) return `applied migration${applied.length === 1 ? '' : 's'} ${applied.join(', ')}`;
  return `applied ${applied.length} migrations, ${applied[0]} to ${applied[applied.length - 1]}`;
}
