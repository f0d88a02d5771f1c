import { DataSource, DataSourceOptions, EntityManager, Logger as OrmLogger, QueryRunner } from 'typeorm';
import { storeEntitiesFor } from './entities';
import { DbHost, FailoverPool, SqlDialect, SqlPoolOptions } from './sql-pool';

/**
 * One host's TypeORM DataSource. openHost is synchronous, TypeORM's initialize is not: the first
 * take() waits for it, and a host that cannot be reached fails that take() (the pool moves on).
 */
export interface HostSource {
  host: DbHost;
  dataSource: DataSource;
  ready: Promise<DataSource>;
  /** the start failed: the next take() opens the host afresh (never stuck on a failed start) */
  failed?: true;
}

/** TypeORM's own log lines stay off: statements carry ids and keys, and failures reach our log through the pool. */
const SILENT: OrmLogger = {
  logQuery: () => undefined,
  logQueryError: () => undefined,
  logQuerySlow: () => undefined,
  logSchemaBuild: () => undefined,
  logMigration: () => undefined,
  log: () => undefined,
};

/** the query runner's own query(), before take() wraps it in our deadline */
const RAW_QUERY = Symbol('raw query');
export type HostRunner = QueryRunner & { [RAW_QUERY]?: QueryRunner['query'] };

/**
 * The stores' statements on TypeORM's connection: a DataSource per host, inside FailoverPool.
 *
 * Why a DataSource per host and not TypeORM over one pool: TypeORM connects to one host and has no
 * notion of "the host in use" or of a check before a connection's first statement. FailoverPool
 * keeps both (never back to a host it left, every new connection checked: writable / not in
 * recovery), so it chooses the host and TypeORM supplies the connection: each statement, ours or
 * the query builder's, runs on a QueryRunner of that host's DataSource. A QueryRunner is taken per
 * statement from the DataSource's driver pool (as the driver pools were used before), so a segment
 * fetch is still one round trip; the check runs once per driver connection (connectionOf), not per
 * QueryRunner. Opening a host's DataSource costs TypeORM's start-up reads (its server version, and
 * on PostgreSQL the schema), once per host, at the first statement and after a move.
 */
export abstract class DataSourcePool extends FailoverPool<HostSource, HostRunner> {
  private readonly entities: NonNullable<DataSourceOptions['entities']>;

  constructor(url: string, dialect: SqlDialect, options: SqlPoolOptions = {}) {
    super(url, dialect, options);
    this.entities = (options.entities ?? storeEntitiesFor(dialect)) as NonNullable<DataSourceOptions['entities']>;
  }

  /** the driver's options for one host: exact 64-bit values, timeouts, pool size */
  protected abstract hostOptions(host: DbHost): DataSourceOptions;

  protected openHost(host: DbHost): HostSource {
    return this.initialized(host);
  }

  private initialized(host: DbHost): HostSource {
    const dataSource = new DataSource({
      ...this.hostOptions(host),
      entities: this.entities,
      logger: SILENT,
      synchronize: false,
      migrationsRun: false,
    } as DataSourceOptions);
    const ready = dataSource.initialize();
    ready.catch(() => undefined); // the take() that waits for it sees the failure
    return { host, dataSource, ready };
  }

  protected async endHost(source: HostSource): Promise<void> {
    await source.ready.catch(() => undefined);
    if (source.dataSource.isInitialized) await source.dataSource.destroy();
  }

  protected async take(source: HostSource): Promise<HostRunner> {
    if (source.failed) Object.assign(source, this.initialized(source.host), { failed: undefined });
    const ready = source.ready;
    let dataSource: DataSource;
    try {
      dataSource = await ready;
    } catch (e) {
      if (source.ready === ready) source.failed = true;
      throw e;
    }
    const runner: HostRunner = dataSource.createQueryRunner('master');
    try {
      await runner.connect();
    } catch (e) {
      await runner.release().catch(() => undefined);
      throw e;
    }
    // every statement the manager sends (the query builder's, a repository's) within our deadline;
    // our own statements go through run(), which send() already bounds
    const raw = runner.query.bind(runner);
    runner[RAW_QUERY] = raw;
    runner.query = ((sql: string, parameters?: unknown[], structured?: boolean) =>
      this.within(() => raw(sql, parameters, structured as never))) as QueryRunner['query'];
    return runner;
  }

  protected release(runner: HostRunner): void {
    void runner.release().catch(() => undefined);
  }

  protected managerOf(runner: HostRunner): EntityManager {
    return runner.manager;
  }

  /** the driver connection under the runner: the pool reuses it, the runner is new each time */
  protected override connectionOf(runner: HostRunner): object {
    return (runner as unknown as { databaseConnection: object }).databaseConnection;
  }

  /** the statement as written, through TypeORM's runner (send() adds the deadline) */
  protected rawQuery(runner: HostRunner, sql: string, values: unknown[], structured = false): Promise<any> {
    return (runner[RAW_QUERY] ?? runner.query.bind(runner))(sql, values, structured as never);
  }
}
