import { databaseUnavailable, IdError } from '@app/core';
import { createPool, Pool, PoolConnection, PoolOptions } from 'mysql2';

/** Bounds that make a dead or silent database fail fast instead of hanging a request. */
export const MYSQL_CONNECT_TIMEOUT_MS = 2000;
export const MYSQL_QUERY_TIMEOUT_MS = 2000;

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

/** Statements that change nothing may be sent again whatever happened to the first try. */
const READ_ONLY_STATEMENT = /^\s*(SELECT|SHOW)\b/i;

export interface MysqlHost {
  host: string;
  port: number;
}

export interface MysqlTarget {
  user: string;
  password: string;
  database: string;
  hosts: MysqlHost[];
}

/** mysql://user:pass@h1:port,h2:port/db (mariadb:// is the same); a host without a port is 3306. */
/**
 * The longest one statement may take with its retries (a timeout per attempt, one attempt per
 * host and one more, plus the pauses): what a poll's lateness is bounded by.
 */
export function statementBudgetMs(hosts: number, timeoutMs = MYSQL_QUERY_TIMEOUT_MS): number {
  return timeoutMs * (hosts + 1) + 250;
}

export function parseMysqlUrl(url: string): MysqlTarget {
  const m = /^(?:mysql|mariadb):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)\/([^/?]+)/.exec(url);
  if (!m) throw new Error('a MySQL URL must look like mysql://user:pass@host:3306/db');
  const hosts = m[3].split(',').map((h): MysqlHost => {
    const hm = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(h.trim());
    if (!hm) throw new Error('a MySQL URL lists hosts as host:port, separated by commas');
    return { host: hm[1], port: hm[2] ? Number(hm[2]) : 3306 };
  });
  return {
    user: decodeURIComponent(m[1] ?? ''),
    password: decodeURIComponent(m[2] ?? ''),
    database: decodeURIComponent(m[4]),
    hosts,
  };
}

/** The same URL naming one host only (for TypeORM, which connects to one). */
export function singleHostUrl(target: MysqlTarget, index: number): string {
  const { host, port } = target.hosts[index];
  const auth = target.user ? `${encodeURIComponent(target.user)}${target.password ? `:${encodeURIComponent(target.password)}` : ''}@` : '';
  return `mysql://${auth}${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(target.database)}`;
}

export interface QueryOptions {
  /**
   * A write whose outcome is unknown (the connection broke after it was sent) is sent again.
   * Only for statements where a repeat costs at most a gap (a segment fetch, a ticket, a
   * partition allocation) or nothing (a lease renewal). Without it such a write answers
   * DATABASE_UNAVAILABLE "outcome unknown".
   */
  retryUnknown?: boolean;
}

/** a statement runner bound to one connection (inside a transaction) */
export type MysqlQuery = <T = unknown>(sql: string, values?: unknown[]) => Promise<T>;

export interface MysqlPoolOptions {
  /** per statement; also bounds the wait for a pooled connection */
  timeoutMs?: number;
  connectionLimit?: number;
  /** who uses the pool, for log lines ("database", "snowflake lease", "partition 2") */
  name?: string;
  logger?: { log(message: string): void; warn(message: string): void };
}

export interface MysqlHostStatus {
  /** "2 of 3": safe for unauthenticated readiness */
  inUse: string;
  /** host:port of each, in URL order: only for the log, the admin API and token-protected metrics */
  hosts: string[];
  active: number;
  /** the last reason a host was left, if any */
  lastMove?: string;
}

type Checked = PoolConnection & { [CHECKED]?: true };
const CHECKED = Symbol('checked');

const silent = { log: () => undefined, warn: () => undefined };

/**
 * Statements over mysql2 pools, one pool per host of a multi-host URL, each statement with a
 * deadline so a silent database fails a request in bounded time. Values come back exact
 * (supportBigNumbers + bigNumberStrings).
 *
 * Host choice (README "High availability"): every new connection is checked before use; a host is
 * usable only when writable (@@global.read_only = 0) and, on Galera, wsrep_ready = ON and Synced.
 * The pool uses the first usable host and moves to the next (in URL order, wrapping) only when a
 * connection to the host in use is lost or cannot be made, fails the check, or the server refuses
 * a statement as read-only/not ready. It never moves back because an earlier host answers again: a restarted
 * old primary may be writable and behind.
 *
 * Retries: a statement that was never sent (no connection, host unusable) or that the server
 * rolled back (deadlock, Galera certification conflict, lock wait) is sent again, on the next
 * host when the host changed; reads always; writes after an unknown outcome only with
 * retryUnknown.
 */
export class MysqlPool {
  private readonly target: MysqlTarget;
  private readonly timeoutMs: number;
  private readonly connectionLimit: number;
  private readonly name: string;
  private readonly logger: { log(message: string): void; warn(message: string): void };
  private readonly pools: (Pool | undefined)[];
  private readonly retired = new Set<Pool>();
  private active = 0;
  private lastMove?: string;
  private closed = false;

  constructor(url: string, options: MysqlPoolOptions = {}) {
    this.target = parseMysqlUrl(url);
    this.timeoutMs = options.timeoutMs ?? MYSQL_QUERY_TIMEOUT_MS;
    this.connectionLimit = options.connectionLimit ?? 10;
    this.name = options.name ?? 'database';
    this.logger = options.logger ?? silent;
    this.pools = this.target.hosts.map(() => undefined);
  }

  get hostCount(): number {
    return this.target.hosts.length;
  }

  status(): MysqlHostStatus {
    return {
      inUse: `${this.active + 1} of ${this.target.hosts.length}`,
      hosts: this.target.hosts.map((h) => `${h.host}:${h.port}`),
      active: this.active,
      ...(this.lastMove ? { lastMove: this.lastMove } : {}),
    };
  }

  /** The host in use as a one-host URL, after a checked connection to it (for migrations). */
  async usableHostUrl(): Promise<string> {
    const { conn, index } = await this.connection(Date.now() + this.budgetMs());
    conn.release();
    return singleHostUrl(this.target, index);
  }

  async query<T = unknown>(sql: string, values: unknown[] = [], options: QueryOptions = {}): Promise<T> {
    const deadline = Date.now() + this.budgetMs();
    const mayRepeat = options.retryUnknown === true || READ_ONLY_STATEMENT.test(sql);
    let lastError: unknown;
    for (let attempt = 0; attempt < this.target.hosts.length + 3 && Date.now() < deadline; attempt++) {
      if (attempt > 0) await pause(Math.min(20 * attempt, 200));
      let got: { conn: Checked; index: number };
      try {
        got = await this.connection(deadline);
      } catch (e) {
        lastError = e; // never sent
        continue;
      }
      try {
        const result = await this.send<T>(got.conn, sql, values);
        got.conn.release();
        return result;
      } catch (e) {
        lastError = e;
        if (isConnectionError(e)) {
          got.conn.destroy();
          this.leave(got.index, `connection lost: ${(e as Error).message}`);
          if (!mayRepeat) throw outcomeUnknown(e);
        } else if (isNotWritable(e)) {
          got.conn.destroy();
          this.leave(got.index, `refused a statement: ${(e as Error).message}`);
        } else if (isRolledBack(e)) {
          got.conn.release();
        } else {
          got.conn.release();
          throw e;
        }
      }
    }
    throw unavailable(lastError, `no usable ${this.name} host answered`);
  }

  /**
   * Statements on one connection between START TRANSACTION and COMMIT: all take effect or none
   * (a pooled query() may land each statement on another connection, even another host).
   * Not retried: work decides. A connection lost before COMMIT answered is an unknown outcome.
   */
  async transaction<T>(work: (query: MysqlQuery) => Promise<T>): Promise<T> {
    const { conn, index } = await this.connection(Date.now() + this.budgetMs());
    let broken = false;
    const query: MysqlQuery = async <R>(sql: string, values: unknown[] = []) => {
      try {
        return await this.send<R>(conn, sql, values);
      } catch (e) {
        if (isConnectionError(e)) broken = true;
        throw e;
      }
    };
    try {
      await query('START TRANSACTION');
      const result = await work(query);
      await query('COMMIT');
      conn.release();
      return result;
    } catch (e) {
      if (broken) {
        conn.destroy();
        this.leave(index, `connection lost: ${(e as Error).message}`);
        throw outcomeUnknown(e);
      }
      await this.send(conn, 'ROLLBACK', []).then(
        () => conn.release(),
        () => conn.destroy(),
      );
      throw e;
    }
  }

  async end(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.filter((p): p is Pool => p !== undefined), ...this.retired];
    this.retired.clear();
    await Promise.all(all.map((p) => new Promise<void>((r) => p.end(() => r()))));
  }

  // ---- internals ----

  /** the statement plus a connection (each bounded by timeoutMs) to every host once */
  private budgetMs(): number {
    return statementBudgetMs(this.target.hosts.length, this.timeoutMs);
  }

  private poolFor(index: number): Pool {
    let pool = this.pools[index];
    if (pool === undefined) {
      const { host, port } = this.target.hosts[index];
      const options: PoolOptions = {
        host,
        port,
        user: this.target.user,
        password: this.target.password,
        database: this.target.database,
        supportBigNumbers: true,
        bigNumberStrings: true,
        connectTimeout: MYSQL_CONNECT_TIMEOUT_MS,
        connectionLimit: this.connectionLimit,
        maxIdle: this.connectionLimit,
        idleTimeout: 60_000,
        enableKeepAlive: true,
      };
      pool = createPool(options);
      // a pooled connection that breaks while idle: mysql2 drops it; nothing to do here
      pool.on('connection', (c) => c.on('error', () => undefined));
      this.pools[index] = pool;
    }
    return pool;
  }

  /** A checked connection to the host in use, moving on from hosts that fail. */
  private async connection(deadline: number): Promise<{ conn: Checked; index: number }> {
    if (this.closed) throw unavailable(Object.assign(new Error('pool closed'), { code: 'POOL_CLOSED' }), `${this.name} pool closed`);
    let lastError: unknown;
    for (let tries = 0; tries < this.target.hosts.length && Date.now() < deadline; tries++) {
      const index = this.active;
      let conn: Checked;
      try {
        conn = await this.take(index, deadline);
      } catch (e) {
        lastError = e;
        if (isConnectionError(e)) this.leave(index, `no connection: ${(e as Error).message}`);
        continue;
      }
      if (conn[CHECKED]) return { conn, index };
      try {
        const unusable = await this.check(conn);
        if (unusable === null) {
          conn[CHECKED] = true;
          return { conn, index };
        }
        lastError = Object.assign(new Error(`${this.name} host ${index + 1} of ${this.target.hosts.length} is not usable: ${unusable}`), {
          code: 'HOST_NOT_USABLE',
        });
        conn.destroy();
        this.leave(index, unusable);
      } catch (e) {
        lastError = e;
        conn.destroy();
        this.leave(index, `check failed: ${(e as Error).message}`);
      }
    }
    throw unavailable(lastError, `no usable ${this.name} host`);
  }

  /** null when usable, else why not */
  private async check(conn: PoolConnection): Promise<string | null> {
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
    return null;
  }

  /** Moves on from a host, only if it is still the one in use (concurrent failures move once). */
  private leave(index: number, reason: string): void {
    if (this.active !== index || this.closed) return;
    const n = this.target.hosts.length;
    const pool = this.pools[index];
    this.pools[index] = undefined; // a return to this host starts with new, checked connections
    if (pool) this.retire(pool);
    if (n === 1) return;
    this.active = (index + 1) % n;
    const from = this.target.hosts[index];
    const to = this.target.hosts[this.active];
    this.lastMove = `left ${index + 1} of ${n}: ${reason}`;
    this.logger.warn(
      `${this.name}: host ${index + 1} of ${n} (${from.host}:${from.port}) is not usable (${reason}); moving to host ${this.active + 1} of ${n} (${to.host}:${to.port})`,
    );
  }

  /** Ends a left host's pool once the statements still running on it had their time. */
  private retire(pool: Pool): void {
    this.retired.add(pool);
    setTimeout(() => {
      this.retired.delete(pool);
      pool.end(() => undefined);
    }, this.timeoutMs + 500).unref();
  }

  private take(index: number, deadline: number): Promise<Checked> {
    const pool = this.poolFor(index);
    return new Promise<Checked>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(
        () => {
          done = true;
          reject(Object.assign(new Error(`no ${this.name} connection within ${this.timeoutMs} ms`), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }));
        },
        Math.max(1, Math.min(deadline - Date.now(), this.timeoutMs)),
      );
      timer.unref();
      pool.getConnection((err, conn) => {
        if (done) {
          conn?.release();
          return;
        }
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(conn as Checked);
      });
    });
  }

  /** One statement with a deadline of our own around mysql2's (which covers only the statement). */
  private send<T>(conn: PoolConnection, sql: string, values: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null, result?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        if (err === null) resolve(result as T);
        else reject(err);
      };
      const deadline = setTimeout(
        () => finish(Object.assign(new Error(`no answer from MySQL within ${this.timeoutMs} ms`), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true })),
        this.timeoutMs + 250,
      );
      deadline.unref();
      try {
        conn.query({ sql, values, timeout: this.timeoutMs }, (err, result) => finish(err, result));
      } catch (e) {
        finish(e as Error);
      }
    });
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** the stable code and generic words for callers; the driver's text (addresses) stays in the cause, for the log */
function unavailable(cause: unknown, what: string): IdError {
  if (cause instanceof IdError) return cause;
  return databaseUnavailable(cause ?? new Error(what));
}

/** The connection broke after a write was sent: it may or may not have committed. */
function outcomeUnknown(cause: unknown): IdError {
  return new IdError(
    'DATABASE_UNAVAILABLE',
    'database connection lost after the write was sent: outcome unknown; check GET /admin/segments',
    { cause },
  );
}
