import type { PoolConnection } from 'mysql2';
import type { DataSourceOptions } from 'typeorm';
import { DataSourcePool, HostRunner, HostSource } from './data-source-pool';
import {
  DB_CONNECT_TIMEOUT_MS,
  DB_QUERY_TIMEOUT_MS,
  DbHost,
  DbTarget,
  FailureKind,
  parseDbUrl,
  SqlHostStatus,
  SqlPoolOptions,
  SqlQuery,
} from './sql-pool';

export const MYSQL_CONNECT_TIMEOUT_MS = DB_CONNECT_TIMEOUT_MS;
export const MYSQL_QUERY_TIMEOUT_MS = DB_QUERY_TIMEOUT_MS;

/** An error from the driver that means "the database is not there", as opposed to a bad statement. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? '';
  const fatal = (e as { fatal?: boolean } | null)?.fatal === true;
  return (
    fatal ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|PROTOCOL_|POOL_CLOSED|ER_CON_COUNT_ERROR|ER_SERVER_SHUTDOWN|ER_QUERY_INTERRUPTED)/.test(code)
  );
}

/**
 * The server refused the statement without running it because it is not the writable node:
 * read_only (a replica, a demoted primary) or a Galera node that is not ready for clients.
 */
function isNotWritable(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? '';
  return code === 'ER_OPTION_PREVENTS_STATEMENT' || code === 'ER_READ_ONLY_MODE' || code === 'ER_UNKNOWN_COM_ERROR';
}

/** Rolled back whole by the server (Galera certification conflicts surface as deadlocks): safe to send again. */
function isRolledBack(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? '';
  return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT';
}

export type MysqlHost = DbHost;
export type MysqlTarget = DbTarget;
export type MysqlQuery = SqlQuery;
export type MysqlPoolOptions = SqlPoolOptions;
export type MysqlHostStatus = SqlHostStatus;

const QUIET = Symbol('quiet');

/** mysql://user:pass@h1:port,h2:port/db (mariadb:// is the same); a host without a port is 3306. */
export function parseMysqlUrl(url: string): MysqlTarget {
  const target = parseDbUrl(url);
  if (target.dialect !== 'mysql') throw new Error('a MySQL URL must look like mysql://user:pass@host:3306/db');
  return target;
}

/**
 * Statements over TypeORM's mysql2 driver, a DataSource per host of a multi-host URL (the host
 * choice and retries are FailoverPool's, see DataSourcePool). Values come back exact
 * (supportBigNumbers + bigNumberStrings); an UPDATE answers mysql2's OK packet as it is
 * (affectedRows, insertId: the segment fetch's new max_id in the same round trip).
 *
 * A host is usable only when writable (@@global.read_only = 0) and, on Galera, wsrep_ready = ON
 * and Synced (its connections then read causally: wsrep_sync_wait = 1). The server refusing a
 * statement as read-only/not ready moves on too.
 */
export class MysqlPool extends DataSourcePool {
  protected readonly serverName = 'MySQL';

  constructor(url: string, options: MysqlPoolOptions = {}) {
    super(url, 'mysql', options);
  }

  protected hostOptions({ host, port }: DbHost): DataSourceOptions {
    return {
      type: 'mysql',
      connectorPackage: 'mysql2',
      host,
      port,
      username: this.target.user,
      password: this.target.password,
      database: this.target.database,
      supportBigNumbers: true,
      bigNumberStrings: true,
      // affectedRows counts rows matched, not changed (mysql2's default, relied on by the batched first fetch)
      flags: ['FOUND_ROWS'],
      connectTimeout: MYSQL_CONNECT_TIMEOUT_MS,
      // mysql2's own statement timeout (it ends the connection), as the pool set before
      enableQueryTimeout: true,
      maxQueryExecutionTime: this.timeoutMs,
      extra: { connectionLimit: this.connectionLimit, maxIdle: this.connectionLimit, idleTimeout: 60_000, enableKeepAlive: true },
    };
  }

  protected override async take(source: HostSource): Promise<HostRunner> {
    const runner = await super.take(source);
    const conn = this.connectionOf(runner) as PoolConnection & { [QUIET]?: true };
    // a pooled connection that breaks while idle: mysql2 drops it; without a listener the error would end the process
    if (!conn[QUIET]) {
      conn.on('error', () => undefined);
      conn[QUIET] = true;
    }
    return runner;
  }

  protected destroy(runner: HostRunner): void {
    (this.connectionOf(runner) as PoolConnection).destroy();
  }

  protected run(runner: HostRunner, sql: string, values: unknown[]): Promise<unknown> {
    return this.rawQuery(runner, sql, values);
  }

  protected classify(e: unknown): FailureKind {
    if (isConnectionError(e)) return 'connection lost';
    if (isNotWritable(e)) return 'not writable';
    if (isRolledBack(e)) return 'rolled back';
    return 'statement';
  }

  protected async unusable(conn: HostRunner): Promise<string | null> {
    let row: { ro: unknown; wsrep: unknown };
    try {
      [row] = await this.send<{ ro: unknown; wsrep: unknown }[]>(conn, 'SELECT @@global.read_only AS ro, @@global.wsrep_on AS wsrep', []);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ER_UNKNOWN_SYSTEM_VARIABLE') throw e;
      [row] = await this.send<{ ro: unknown; wsrep: unknown }[]>(conn, 'SELECT @@global.read_only AS ro, 0 AS wsrep', []); // MySQL without Galera
    }
    if (String(row.ro) !== '0') return 'read_only is ON';
    if (String(row.wsrep) !== '1') return null;
    const rows = await this.send<{ Variable_name: string; Value: string }[]>(
      conn,
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment')",
      [],
    );
    const status = new Map(rows.map((r) => [r.Variable_name.toLowerCase(), String(r.Value)]));
    if (status.get('wsrep_ready') !== 'ON') return 'Galera node not ready (wsrep_ready OFF)';
    if (status.get('wsrep_local_state_comment') !== 'Synced') return `Galera node ${status.get('wsrep_local_state_comment') ?? 'not'} Synced`;
    // a node applies other nodes' commits a little after they are certified: reads on this
    // connection wait for what the cluster committed before them (a layout, a key, a lease record
    // written through another node), as a single server's reads would see it
    await this.send(conn, 'SET SESSION wsrep_sync_wait = 1', []);
    return null;
  }
}
