import { databaseUnavailable, IdError } from '@app/core';
import type { EntityManager } from 'typeorm';

/** Bounds that make a dead or silent database fail fast instead of hanging a request. */
export const DB_CONNECT_TIMEOUT_MS = 2000;
export const DB_QUERY_TIMEOUT_MS = 2000;

export type SqlDialect = 'mysql' | 'postgres';

export interface DbHost {
  host: string;
  port: number;
}

export interface DbTarget {
  dialect: SqlDialect;
  user: string;
  password: string;
  database: string;
  hosts: DbHost[];
}

const DIALECT_OF_SCHEME: Record<string, SqlDialect> = { mysql: 'mysql', mariadb: 'mysql', postgres: 'postgres', postgresql: 'postgres' };
const DEFAULT_PORT: Record<SqlDialect, number> = { mysql: 3306, postgres: 5432 };
const SCHEME: Record<SqlDialect, string> = { mysql: 'mysql', postgres: 'postgres' };
const EXAMPLE: Record<SqlDialect, string> = { mysql: 'mysql://user:pass@host:3306/db', postgres: 'postgres://user:pass@host:5432/db' };

/**
 * mysql://user:pass@h1:port,h2:port/db (mariadb:// the same) or postgres://... (postgresql://
 * the same); a host without a port is the dialect's default (3306, 5432).
 */
export function parseDbUrl(url: string): DbTarget {
  const m = /^([a-z]+):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)\/([^/?]+)/.exec(url);
  const dialect = m ? DIALECT_OF_SCHEME[m[1]] : /^postgres/.test(url) ? 'postgres' : 'mysql';
  if (!m || DIALECT_OF_SCHEME[m[1]] === undefined) throw new Error(`a database URL must look like ${EXAMPLE[dialect]}`);
  const hosts = m[4].split(',').map((h): DbHost => {
    const hm = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(h.trim());
    if (!hm) throw new Error('a database URL lists hosts as host:port, separated by commas');
    return { host: hm[1], port: hm[2] ? Number(hm[2]) : DEFAULT_PORT[dialect] };
  });
  return {
    dialect,
    user: decodeURIComponent(m[2] ?? ''),
    password: decodeURIComponent(m[3] ?? ''),
    database: decodeURIComponent(m[5]),
    hosts,
  };
}

/** The same URL naming one host only (for TypeORM, which connects to one). */
export function singleHostUrl(target: DbTarget, index: number): string {
  const { host, port } = target.hosts[index];
  const auth = target.user ? `${encodeURIComponent(target.user)}${target.password ? `:${encodeURIComponent(target.password)}` : ''}@` : '';
  return `${SCHEME[target.dialect]}://${auth}${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(target.database)}`;
}

/**
 * The longest one statement may take with its retries (a timeout per attempt, one attempt per
 * host and one more, plus the pauses): what a poll's lateness is bounded by.
 */
export function statementBudgetMs(hosts: number, timeoutMs = DB_QUERY_TIMEOUT_MS): number {
  return timeoutMs * (hosts + 1) + 250;
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

export interface ManagerOptions {
  /** work only reads, or a repeat of it changes nothing: sent again after a lost connection */
  repeatable?: boolean;
}

/** a statement runner bound to one connection (inside a transaction) */
export type SqlQuery = <T = unknown>(sql: string, values?: unknown[]) => Promise<T>;

export interface SqlPoolOptions {
  /** per statement; also bounds the wait for a pooled connection */
  timeoutMs?: number;
  connectionLimit?: number;
  /** who uses the pool, for log lines ("database", "snowflake lease", "partition 2") */
  name?: string;
  /** the entities the stores reach through repositories and the query builder (withManager); default: storeEntitiesFor the dialect */
  entities?: unknown[];
  logger?: { log(message: string): void; warn(message: string): void };
}

export interface SqlHostStatus {
  /** "2 of 3": safe for unauthenticated readiness */
  inUse: string;
  /** host:port of each, in URL order: only for the log, the admin API and token-protected metrics */
  hosts: string[];
  active: number;
  /** the last reason a host was left, if any */
  lastMove?: string;
}

/**
 * What the stores use of a server database, whichever it is (MysqlPool, PgPool): statements with
 * `?` placeholders, a transaction on one connection, and which host is in use. A statement that
 * changes rows answers `{ affectedRows }` (MySQL's OK packet has more), one that returns rows
 * (SELECT, PostgreSQL's RETURNING) answers the rows.
 */
export interface SqlPool {
  readonly dialect: SqlDialect;
  readonly hostCount: number;
  status(): SqlHostStatus;
  /** The host in use as a one-host URL, after a checked connection to it (for migrations). */
  usableHostUrl(): Promise<string>;
  query<T = unknown>(sql: string, values?: unknown[], options?: QueryOptions): Promise<T>;
  /**
   * TypeORM's EntityManager on one checked connection of the host in use, for the repositories
   * and the query builder: the same host choice, deadlines (per statement) and retries as query().
   * `repeatable` (reads, and writes a repeat cannot change) lets work run again on another host
   * after a connection was lost; without it such a failure answers "outcome unknown".
   */
  withManager<T>(work: (manager: EntityManager) => Promise<T>, options?: ManagerOptions): Promise<T>;
  /** statements on one connection in one transaction; `manager` is TypeORM's on that same connection */
  transaction<T>(work: (query: SqlQuery, manager: EntityManager) => Promise<T>): Promise<T>;
  end(): Promise<void>;
}

/** How the server answered a statement that failed, as far as the host choice and retries care. */
export type FailureKind =
  /** the connection is gone or the host cannot serve: leave the host; a sent write's outcome is unknown */
  | 'connection lost'
  /** refused without running because the host is not the writable one: leave the host, send again */
  | 'not writable'
  /** the server rolled the statement back whole (deadlock, serialization, certification): send again */
  | 'rolled back'
  /** a statement's own error (syntax, duplicate key): the caller's */
  | 'statement';

/** Statements that change nothing may be sent again whatever happened to the first try. */
const READ_ONLY_STATEMENT = /^\s*(SELECT|SHOW)\b/i;

/** our own deadline passed: the connection is treated as lost (the server may still run the statement) */
export const DEADLINE_CODE = 'PROTOCOL_SEQUENCE_TIMEOUT';

const silent = { log: () => undefined, warn: () => undefined };

/**
 * The host choice and retries shared by every server database; a subclass supplies only the driver
 * calls, the usability check and the error classification.
 *
 * Host choice (docs/operations.md "High availability"): every new connection is checked before
 * use (`unusable`). The pool uses the first usable host and moves to the next (in URL order,
 * wrapping) only when a connection to the host in use is lost or cannot be made, fails the check,
 * or the server refuses a statement as not writable. It never moves back because an earlier host
 * answers again: a restarted old primary may be writable and behind.
 *
 * Retries: a statement that was never sent (no connection, host unusable) or that the server
 * rolled back is sent again, on the next host when the host changed; reads always; writes after
 * an unknown outcome only with retryUnknown.
 */
export abstract class FailoverPool<HostPool, Conn> implements SqlPool {
  protected readonly target: DbTarget;
  protected readonly timeoutMs: number;
  protected readonly connectionLimit: number;
  protected readonly name: string;
  private readonly logger: { log(message: string): void; warn(message: string): void };
  private readonly pools: (HostPool | undefined)[];
  private readonly retired = new Set<HostPool>();
  /** connections (connectionOf) that passed the usability check */
  private readonly checked = new WeakSet<object>();
  private active = 0;
  private lastMove?: string;
  private closed = false;

  // ---- what each driver supplies ----
  /** "MySQL", "PostgreSQL": for messages */
  protected abstract readonly serverName: string;
  protected abstract openHost(host: DbHost): HostPool;
  protected abstract endHost(pool: HostPool): Promise<void>;
  /** a pooled connection (the caller bounds the wait, and releases one that comes too late) */
  protected abstract take(pool: HostPool): Promise<Conn>;
  protected abstract release(conn: Conn): void;
  protected abstract destroy(conn: Conn): void;
  /** one statement through the driver, with the driver's own statement timeout */
  protected abstract run(conn: Conn, sql: string, values: unknown[]): Promise<unknown>;
  /** TypeORM's EntityManager on this connection (each statement it sends within our deadline) */
  protected abstract managerOf(conn: Conn): EntityManager;
  /** what stays the same while the driver reuses one connection (the usability check is made once per connection) */
  protected connectionOf(conn: Conn): object {
    return conn as object;
  }
  /** null when the host may take our writes, else why not */
  protected abstract unusable(conn: Conn): Promise<string | null>;
  protected abstract classify(e: unknown): FailureKind;

  constructor(url: string, dialect: SqlDialect, options: SqlPoolOptions = {}) {
    this.target = parseDbUrl(url);
    if (this.target.dialect !== dialect) throw new Error(`a ${dialect} pool cannot use a ${this.target.dialect} URL`);
    this.timeoutMs = options.timeoutMs ?? DB_QUERY_TIMEOUT_MS;
    this.connectionLimit = options.connectionLimit ?? 10;
    this.name = options.name ?? 'database';
    this.logger = options.logger ?? silent;
    this.pools = this.target.hosts.map(() => undefined);
  }

  get dialect(): SqlDialect {
    return this.target.dialect;
  }

  get hostCount(): number {
    return this.target.hosts.length;
  }

  status(): SqlHostStatus {
    return {
      inUse: `${this.active + 1} of ${this.target.hosts.length}`,
      hosts: this.target.hosts.map((h) => `${h.host}:${h.port}`),
      active: this.active,
      ...(this.lastMove ? { lastMove: this.lastMove } : {}),
    };
  }

  async usableHostUrl(): Promise<string> {
    const { conn, index } = await this.connection(Date.now() + this.budgetMs());
    this.release(conn);
    return singleHostUrl(this.target, index);
  }

  query<T = unknown>(sql: string, values: unknown[] = [], options: QueryOptions = {}): Promise<T> {
    const mayRepeat = options.retryUnknown === true || READ_ONLY_STATEMENT.test(sql);
    return this.attempt((conn) => this.send<T>(conn, sql, values), mayRepeat);
  }

  withManager<T>(work: (manager: EntityManager) => Promise<T>, options: ManagerOptions = {}): Promise<T> {
    return this.attempt((conn) => work(this.managerOf(conn)), options.repeatable === true);
  }

  /**
   * `use` on a checked connection of the host in use, sent again as the class comment says: on
   * the next host after the host failed, on the same after the server rolled it back.
   */
  private async attempt<T>(use: (conn: Conn) => Promise<T>, mayRepeat: boolean): Promise<T> {
    const deadline = Date.now() + this.budgetMs();
    let lastError: unknown;
    for (let attempt = 0; attempt < this.target.hosts.length + 3 && Date.now() < deadline; attempt++) {
      if (attempt > 0) await pause(Math.min(20 * attempt, 200));
      let got: { conn: Conn; index: number };
      try {
        got = await this.connection(deadline);
      } catch (e) {
        lastError = e; // never sent
        continue;
      }
      try {
        const result = await use(got.conn);
        this.release(got.conn);
        return result;
      } catch (e) {
        lastError = e;
        const kind = this.kindOf(e);
        if (kind === 'connection lost') {
          this.destroy(got.conn);
          this.leave(got.index, `connection lost: ${(e as Error).message}`);
          if (!mayRepeat) throw outcomeUnknown(e);
        } else if (kind === 'not writable') {
          this.destroy(got.conn);
          this.leave(got.index, `refused a statement: ${(e as Error).message}`);
        } else if (kind === 'rolled back') {
          this.release(got.conn);
        } else {
          this.release(got.conn);
          throw e;
        }
      }
    }
    throw unavailable(lastError, `no usable ${this.name} host answered`);
  }

  /**
   * Statements on one connection between START TRANSACTION and COMMIT: all take effect or none
   * (a pooled query() may land each statement on another connection, even another host).
   * A transaction the server rolled back (a deadlock; on Galera a certification conflict with a
   * write through another node, answered as a deadlock at COMMIT) committed nothing: `work` runs
   * again, on a new transaction, as query() sends a rolled-back statement again, within the same
   * budget. Any other failure is not retried: work decides. A connection lost before COMMIT
   * answered is an unknown outcome (isOutcomeUnknown).
   */
  async transaction<T>(work: (query: SqlQuery, manager: EntityManager) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.budgetMs();
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) await pause(Math.min(20 * attempt, 200));
      try {
        return await this.transactionOnce(work, deadline);
      } catch (e) {
        if (this.kindOf(e) !== 'rolled back' || attempt + 1 >= this.target.hosts.length + 3 || Date.now() >= deadline) throw e;
      }
    }
  }

  private async transactionOnce<T>(work: (query: SqlQuery, manager: EntityManager) => Promise<T>, deadline: number): Promise<T> {
    const { conn, index } = await this.connection(deadline);
    let broken = false;
    const query: SqlQuery = async <R>(sql: string, values: unknown[] = []) => {
      try {
        return await this.send<R>(conn, sql, values);
      } catch (e) {
        if (this.kindOf(e) === 'connection lost') broken = true;
        throw e;
      }
    };
    try {
      await query('START TRANSACTION');
      const result = await work(query, this.managerOf(conn));
      await query('COMMIT');
      this.release(conn);
      return result;
    } catch (e) {
      if (broken) {
        this.destroy(conn);
        this.leave(index, `connection lost: ${(e as Error).message}`);
        throw outcomeUnknown(e);
      }
      await this.send(conn, 'ROLLBACK', []).then(
        () => this.release(conn),
        () => this.destroy(conn),
      );
      throw e;
    }
  }

  async end(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.filter((p): p is HostPool => p !== undefined), ...this.retired];
    this.retired.clear();
    await Promise.all(all.map((p) => this.endHost(p).catch(() => undefined)));
  }

  // ---- internals ----

  private kindOf(e: unknown): FailureKind {
    return (e as { code?: unknown } | null)?.code === DEADLINE_CODE ? 'connection lost' : this.classify(e);
  }

  /** the statement plus a connection (each bounded by timeoutMs) to every host once */
  private budgetMs(): number {
    return statementBudgetMs(this.target.hosts.length, this.timeoutMs);
  }

  private poolFor(index: number): HostPool {
    let pool = this.pools[index];
    if (pool === undefined) {
      pool = this.openHost(this.target.hosts[index]);
      this.pools[index] = pool;
    }
    return pool;
  }

  /** A checked connection to the host in use, moving on from hosts that fail. */
  private async connection(deadline: number): Promise<{ conn: Conn; index: number }> {
    if (this.closed) throw unavailable(Object.assign(new Error('pool closed'), { code: 'POOL_CLOSED' }), `${this.name} pool closed`);
    let lastError: unknown;
    for (let tries = 0; tries < this.target.hosts.length && Date.now() < deadline; tries++) {
      const index = this.active;
      let conn: Conn;
      try {
        conn = await this.takeWithin(index, deadline);
      } catch (e) {
        lastError = e;
        // a host that refuses the first statements of a new connection (a Galera node not ready
        // refuses TypeORM's start-up read as it refuses our check) is left as one that fails the check
        const kind = this.kindOf(e);
        if (kind === 'connection lost' || kind === 'not writable') this.leave(index, `no connection: ${(e as Error).message}`);
        continue;
      }
      if (this.checked.has(this.connectionOf(conn))) return { conn, index };
      try {
        const unusable = await this.unusable(conn);
        if (unusable === null) {
          this.checked.add(this.connectionOf(conn));
          return { conn, index };
        }
        lastError = Object.assign(new Error(`${this.name} host ${index + 1} of ${this.target.hosts.length} is not usable: ${unusable}`), {
          code: 'HOST_NOT_USABLE',
        });
        this.destroy(conn);
        this.leave(index, unusable);
      } catch (e) {
        lastError = e;
        this.destroy(conn);
        this.leave(index, `check failed: ${(e as Error).message}`);
      }
    }
    throw unavailable(lastError, `no usable ${this.name} host`);
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
  private retire(pool: HostPool): void {
    this.retired.add(pool);
    setTimeout(() => {
      this.retired.delete(pool);
      this.endHost(pool).catch(() => undefined);
    }, this.timeoutMs + 500).unref();
  }

  private takeWithin(index: number, deadline: number): Promise<Conn> {
    const pool = this.poolFor(index);
    return new Promise<Conn>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(
        () => {
          done = true;
          reject(Object.assign(new Error(`no ${this.name} connection within ${this.timeoutMs} ms`), { code: DEADLINE_CODE }));
        },
        Math.max(1, Math.min(deadline - Date.now(), this.timeoutMs)),
      );
      timer.unref();
      this.take(pool).then(
        (conn) => {
          if (done) return this.release(conn);
          done = true;
          clearTimeout(timer);
          resolve(conn);
        },
        (err) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** One statement with a deadline of our own around the driver's (which covers only the statement). */
  protected send<T>(conn: Conn, sql: string, values: unknown[]): Promise<T> {
    return this.within(() => this.run(conn, sql, values) as Promise<T>);
  }

  /**
   * A statement with our own deadline: the driver's covers only the time the server runs it, not
   * a connection that went silent. Past it the connection counts as lost (DEADLINE_CODE).
   */
  protected within<T>(start: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const deadline = setTimeout(() => {
        if (done) return;
        done = true;
        reject(Object.assign(new Error(`no answer from ${this.serverName} within ${this.timeoutMs} ms`), { code: DEADLINE_CODE, fatal: true }));
      }, this.timeoutMs + 250);
      deadline.unref();
      let sent: Promise<T>;
      try {
        sent = start();
      } catch (e) {
        sent = Promise.reject(e);
      }
      sent.then(
        (result) => {
          if (done) return;
          done = true;
          clearTimeout(deadline);
          resolve(result);
        },
        (err) => {
          if (done) return;
          done = true;
          clearTimeout(deadline);
          reject(err);
        },
      );
    });
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** the stable code and generic words for callers; the driver's text (addresses) stays in the cause, for the log */
function unavailable(cause: unknown, what: string): IdError {
  if (cause instanceof IdError) return cause;
  return databaseUnavailable(cause ?? new Error(what));
}

const unknownOutcomes = new WeakSet<object>();

/** The connection broke after a write was sent: it may or may not have committed. */
function outcomeUnknown(cause: unknown): IdError {
  const e = new IdError('DATABASE_UNAVAILABLE', 'database connection lost after the write was sent: outcome unknown; check GET /admin/segments', {
    cause,
  });
  unknownOutcomes.add(e);
  return e;
}

/**
 * The failure of query() or transaction() left the write's outcome unknown (it may have
 * committed). Every other failure of transaction() committed nothing: it ended in a ROLLBACK, or
 * a COMMIT the server refused.
 */
export function isOutcomeUnknown(e: unknown): boolean {
  return typeof e === 'object' && e !== null && unknownOutcomes.has(e);
}
