import { MysqlPool } from './mysql-pool';
import { PgPool } from './pg-pool';
import { parseDbUrl, SqlPool, SqlPoolOptions } from './sql-pool';

/** The pool for a server database URL: MysqlPool for mysql:// and mariadb://, PgPool for postgres:// and postgresql://. */
export function openSqlPool(url: string, options: SqlPoolOptions = {}): SqlPool {
  return parseDbUrl(url).dialect === 'postgres' ? new PgPool(url, options) : new MysqlPool(url, options);
}
