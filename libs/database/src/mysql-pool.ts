import { databaseUnavailable } from '@app/core';
import type { DataSource } from 'typeorm';
import { MYSQL_QUERY_TIMEOUT_MS } from './data-source-options';

/** mysql2's callback pool as TypeORM's driver holds it. */
interface Mysql2Pool {
  query(options: { sql: string; values?: unknown[]; timeout?: number }, cb: (err: Error | null, result: unknown) => void): void;
}

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
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null, result?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        if (err === null) resolve(result as T);
        else if (isConnectionError(err)) {
          reject(databaseUnavailable(err));
        } else reject(err);
      };
      // mysql2's timeout covers the statement, not the wait for a pooled connection: a deadline
      // of our own bounds both, so a silent database cannot hang a caller.
      const deadline = setTimeout(
        () => finish(Object.assign(new Error(`no answer from MySQL within ${this.timeoutMs} ms`), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' })),
        this.timeoutMs + 250,
      );
      deadline.unref();
      try {
        this.pool.query({ sql, values, timeout: this.timeoutMs }, finish);
      } catch (e) {
        finish(e as Error);
      }
    });
  }
}
