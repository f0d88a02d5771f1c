import { databaseUnavailable } from '@app/core';
import type { DataSource } from 'typeorm';
import { MYSQL_QUERY_TIMEOUT_MS } from './data-source-options';

interface Mysql2Queryable {
  query(options: { sql: string; values?: unknown[]; timeout?: number }, cb: (err: Error | null, result: unknown) => void): void;
}

interface Mysql2Connection extends Mysql2Queryable {
  release(): void;
  destroy(): void;
}

/** mysql2's callback pool as TypeORM's driver holds it. */
interface Mysql2Pool extends Mysql2Queryable {
  getConnection(cb: (err: Error | null, connection: Mysql2Connection) => void): void;
}

/** a statement runner bound to one connection (inside a transaction) */
export type MysqlQuery = <T = unknown>(sql: string, values?: unknown[]) => Promise<T>;

/** An error from the driver that means "the database is not there", as opposed to a bad statement. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? '';
  const fatal = (e as { fatal?: boolean } | null)?.fatal === true;
  return (
    fatal ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|PROTOCOL_|POOL_CLOSED|ER_CON_COUNT_ERROR|ER_SERVER_SHUTDOWN|ER_QUERY_INTERRUPTED)/.test(code)
  );
}

/** a connection error as DATABASE_UNAVAILABLE; any other error unchanged */
function asUnavailable(err: Error): Error {
  return isConnectionError(err) ? databaseUnavailable(err) : err;
}

/**
 * Statements straight on mysql2's pool, each with a timeout, so a silent database fails a
 * request in bounded time (TypeORM's query() passes no timeout). Values come back exact:
 * the DataSource sets supportBigNumbers and bigNumberStrings.
 */
export class MysqlPool {
  private readonly pool: Mysql2Pool;

  constructor(
    dataSource: DataSource,
    private readonly timeoutMs = MYSQL_QUERY_TIMEOUT_MS,
  ) {
    this.pool = (dataSource.driver as unknown as { pool: Mysql2Pool }).pool;
  }

  query<T = unknown>(sql: string, values: unknown[] = []): Promise<T> {
    return this.run<T>(this.pool, sql, values);
  }

  /**
   * Statements on one connection between START TRANSACTION and COMMIT: all take effect or none
   * (a pooled query() may land each statement on another connection).
   */
  async transaction<T>(work: (query: MysqlQuery) => Promise<T>): Promise<T> {
    const connection = await this.connection();
    const query: MysqlQuery = <R>(sql: string, values: unknown[] = []) => this.run<R>(connection, sql, values);
    try {
      await query('START TRANSACTION');
      const result = await work(query);
      await query('COMMIT');
      connection.release();
      return result;
    } catch (e) {
      try {
        await query('ROLLBACK');
        connection.release();
      } catch {
        connection.destroy();
      }
      throw e;
    }
  }

  private connection(): Promise<Mysql2Connection> {
    return new Promise((resolve, reject) => {
      let done = false;
      const deadline = setTimeout(() => {
        done = true;
        reject(databaseUnavailable(new Error(`no connection from the pool within ${this.timeoutMs} ms`)));
      }, this.timeoutMs + 250);
      deadline.unref();
      this.pool.getConnection((err, connection) => {
        clearTimeout(deadline);
        if (done) {
          if (err === null) connection.release();
          return;
        }
        done = true;
        if (err === null) resolve(connection);
        else reject(asUnavailable(err));
      });
    });
  }

  private run<T>(target: Mysql2Queryable, sql: string, values: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null, result?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        if (err === null) resolve(result as T);
        else reject(asUnavailable(err));
      };
      // mysql2's timeout covers the statement, not the wait for a pooled connection: a deadline
      // of our own bounds both, so a silent database cannot hang a caller.
      const deadline = setTimeout(
        () => finish(Object.assign(new Error(`no answer from MySQL within ${this.timeoutMs} ms`), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' })),
        this.timeoutMs + 250,
      );
      deadline.unref();
      try {
        target.query({ sql, values, timeout: this.timeoutMs }, finish);
      } catch (e) {
        finish(e as Error);
      }
    });
  }
}
