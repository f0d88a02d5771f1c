import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminConnection, freshDatabase, MYSQL_HOST, MYSQL_PORT, mysqlAvailable, mysqlUnavailableReason } from './mysql';
import { freshPgDatabase, PG_HOST, PG_PORT, pgAdminClient, pgAvailable, pgUnavailableReason } from './postgres';

/** One database a test runs against, with raw SQL access for checks behind the app's back. */
export type Dialect = 'sqlite' | 'mysql' | 'postgres';

export interface TestDatabase {
  dialect: Dialect;
  /** environment that points the service at it */
  env: Record<string, string>;
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  drop(): Promise<void>;
}

export async function sqliteDatabase(): Promise<TestDatabase> {
  const path = join(mkdtempSync(join(tmpdir(), 'idalloc-db-')), 'ids.sqlite');
  let handle: Database.Database | undefined;
  const open = () => (handle ??= new Database(path, { timeout: 5000 }).defaultSafeIntegers(true));
  return {
    dialect: 'sqlite',
    env: { SQLITE_PATH: path, DB_TYPE: 'sqlite' },
    async query(sql, params = []) {
      const stmt = open().prepare(sql);
      const bound = params.map((p) => (typeof p === 'number' && Number.isInteger(p) ? BigInt(p) : p));
      if (stmt.reader) return stmt.all(...bound) as Record<string, unknown>[];
      stmt.run(...bound);
      return [];
    },
    async drop() {
      handle?.close();
    },
  };
}

export async function mysqlDatabase(tag: string): Promise<TestDatabase> {
  const db = await freshDatabase(tag);
  return {
    dialect: 'mysql',
    env: { DATABASE_URL: db.url, DB_TYPE: 'mysql' },
    async query(sql, params = []) {
      const conn = await adminConnection(db.name);
      try {
        const [rows] = await conn.query(sql, params);
        return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
      } finally {
        await conn.end();
      }
    },
    drop: db.drop,
  };
}

/**
 * A fresh PostgreSQL database for one test file, dropped (connections and all) by drop(). Raw
 * queries take `?` placeholders as the MariaDB ones do (numbered here) and answer rows.
 */
export async function postgresDatabase(tag: string): Promise<TestDatabase> {
  const db = await freshPgDatabase(tag);
  return {
    dialect: 'postgres',
    env: { DATABASE_URL: db.url, DB_TYPE: 'postgres' },
    async query(sql, params = []) {
      const client = await pgAdminClient(db.name);
      try {
        let n = 0;
        const result = await client.query(
          sql.replace(/\?/g, () => `$${++n}`),
          params.map((p) => (typeof p === 'bigint' ? p.toString() : p)),
        );
        return result.rows ?? [];
      } finally {
        await client.end();
      }
    },
    drop: db.drop,
  };
}

/**
 * The dialects to run a suite on: SQLite always; MariaDB and PostgreSQL when reachable (on CI
 * they must be: global-setup fails the run otherwise).
 */
export function dialects(): Dialect[] {
  return ['sqlite', ...(mysqlAvailable() ? (['mysql'] as const) : []), ...(pgAvailable() ? (['postgres'] as const) : [])];
}

export function openDatabase(dialect: Dialect, tag: string): Promise<TestDatabase> {
  return dialect === 'sqlite' ? sqliteDatabase() : dialect === 'mysql' ? mysqlDatabase(tag) : postgresDatabase(tag);
}

/** A server database a suite runs against through a proxy of its own (host and port to put one in front of). */
export interface ServerUnderTest {
  name: 'MariaDB' | 'PostgreSQL';
  host: string;
  port: number;
  open: (tag: string) => Promise<TestDatabase>;
}

/**
 * MariaDB and PostgreSQL, those reachable; for each that is not, a test saying the suite `what`
 * did not run there (failing on CI, where global-setup already failed the run).
 */
export function serversUnderTest(what: string): ServerUnderTest[] {
  const all = [
    { server: { name: 'MariaDB', host: MYSQL_HOST, port: MYSQL_PORT, open: mysqlDatabase } as const, up: mysqlAvailable(), why: mysqlUnavailableReason },
    { server: { name: 'PostgreSQL', host: PG_HOST, port: PG_PORT, open: postgresDatabase } as const, up: pgAvailable(), why: pgUnavailableReason },
  ];
  for (const s of all.filter((s) => !s.up)) it(`${what} on ${s.server.name} did not run: ${s.why()}`, () => expect(process.env.CI).toBeFalsy());
  return all.filter((s) => s.up).map((s) => s.server);
}

/** a database's URL with its port replaced by a proxy's in front of it */
export function throughProxy(db: TestDatabase, port: number, proxyPort: number): string {
  return db.env.DATABASE_URL.replace(`:${port}/`, `:${proxyPort}/`);
}
