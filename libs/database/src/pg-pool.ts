import { CustomTypesConfig, types } from 'pg';
import type { DataSourceOptions, QueryResult } from 'typeorm';
import { DataSourcePool, HostRunner } from './data-source-pool';
import { DB_CONNECT_TIMEOUT_MS, DbHost, FailureKind, SqlPoolOptions } from './sql-pool';

/** int8 and numeric as the server writes them: exact decimal strings, never a rounded number. */
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const asText = (value: string) => value;

/**
 * This pool's parsers only (pg.types is process-wide: another library setting parseInt8 there
 * would not reach us, and we change nothing for it).
 */
export const EXACT_TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID ? asText : types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

const translated = new Map<string, string>();

/**
 * `?` placeholders as PostgreSQL's `$1, $2, ...`, outside string literals, quoted names and
 * comments. The stores write `?` for both servers, so a statement the two share is written once;
 * this is the one place that knows PostgreSQL numbers them. Cached: statements are constants.
 */
export function toPgPlaceholders(sql: string): string {
  const known = translated.get(sql);
  if (known !== undefined) return known;
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = closing(sql, i, c);
      out += sql.slice(i, end + 1);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length - 1 : end;
      out += sql.slice(i, stop + 1);
      i = stop;
    } else if (c === '?') {
      out += `$${++n}`;
    } else {
      out += c;
    }
  }
  if (translated.size < 1000) translated.set(sql, out);
  return out;
}

/** index of the quote closing the one at `start` (a doubled quote is part of the text) */
function closing(sql: string, start: number, quote: string): number {
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] !== quote) continue;
    if (sql[i + 1] === quote) i++;
    else return i;
  }
  return sql.length - 1;
}

/** BigInt bound as its decimal digits: the server reads it into int8/numeric exactly. */
function bindable(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(bindable);
  return value;
}

const CONNECTION_CODES = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|POOL_CLOSED)$/;
/** what pg says, without a code, when a connection ended or never came */
const CONNECTION_WORDS = /Query runner already released|Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed|Client has already been connected/i;

/**
 * SQLSTATE classes (PostgreSQL manual, appendix A):
 * - 08xxx connection exceptions; 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 *   cannot_connect_now (starting, or a standby not accepting connections); 53300
 *   too_many_connections; 57014 query_canceled (our statement_timeout: as MySQL's interrupted
 *   query, the outcome of a write is unknown): connection lost.
 * - 25006 read_only_sql_transaction (a standby, default_transaction_read_only): not writable.
 * - 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available: the
 *   server rolled the statement back.
 */
export function classifyPgError(e: unknown): FailureKind {
  const code = String((e as { code?: unknown } | null)?.code ?? '');
  if (/^08/.test(code) || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300' || code === '57014') return 'connection lost';
  if (CONNECTION_CODES.test(code)) return 'connection lost';
  if (code === '' && CONNECTION_WORDS.test((e as Error | null)?.message ?? '')) return 'connection lost';
  if (code === '25006') return 'not writable';
  if (code === '40001' || code === '40P01' || code === '55P03') return 'rolled back';
  return 'statement';
}

/** statements that answer rows (SELECT, RETURNING); the rest answer { affectedRows } as MySQL's OK packet */
const RETURNS_ROWS = /^\s*(SELECT|WITH|SHOW|VALUES)\b|\bRETURNING\b/i;

/**
 * PostgreSQL over pg pools, one per host of postgres://user:pass@h1:5432,h2:5432/db, with the same
 * host choice and retries as MysqlPool (FailoverPool). A host is usable when it is not in recovery
 * (`pg_is_in_recovery()` false: not a standby); a server refusing a write with 25006 moves on.
 * Each statement has statement_timeout on the server and our own deadline around it.
 *
 * Answers as MysqlPool's do: rows for a statement that returns rows (SELECT, RETURNING), else
 * `{ affectedRows }`. int8 and numeric come back as decimal strings; a BigInt binds as one.
 */
export class PgPool extends DataSourcePool {
  protected readonly serverName = 'PostgreSQL';

  constructor(url: string, options: SqlPoolOptions = {}) {
    super(url, 'postgres', options);
  }

  protected hostOptions({ host, port }: DbHost): DataSourceOptions {
    return {
      type: 'postgres',
      host,
      port,
      username: this.target.user,
      password: this.target.password,
      database: this.target.database,
      connectTimeoutMS: DB_CONNECT_TIMEOUT_MS,
      applicationName: 'id-allocator',
      // pg's Pool options as the pool set them before; this pool's exact int8/numeric parsers
      extra: {
        max: this.connectionLimit,
        connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS,
        idleTimeoutMillis: 60_000,
        keepAlive: true,
        statement_timeout: this.timeoutMs,
        types: EXACT_TYPES,
      },
      // an idle client whose connection breaks: pg drops it; the handler keeps the error from ending the process
      poolErrorHandler: () => undefined,
    };
  }

  /** pg destroys a client released with an error instead of pooling it */
  protected destroy(runner: HostRunner): void {
    void (runner as unknown as { releasePostgresConnection(err: Error): Promise<void> }).releasePostgresConnection(new Error('connection dropped by the pool'));
  }

  protected async run(runner: HostRunner, sql: string, values: unknown[]): Promise<unknown> {
    const result: QueryResult = await this.rawQuery(runner, toPgPlaceholders(sql), values.map(bindable), true);
    return RETURNS_ROWS.test(sql) ? result.records : { affectedRows: result.affected ?? 0 };
  }

  protected classify(e: unknown): FailureKind {
    return classifyPgError(e);
  }

  protected async unusable(client: HostRunner): Promise<string | null> {
    const [row] = await this.send<{ standby: boolean }[]>(client, 'SELECT pg_is_in_recovery() AS standby', []);
    return row.standby ? 'in recovery (a standby)' : null;
  }
}
