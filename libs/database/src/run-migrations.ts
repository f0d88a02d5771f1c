import { DataSource, QueryRunner } from 'typeorm';

const LOCK_NAME = 'id_allocator_migrations';
const LOCK_WAIT_S = 60;

/**
 * Runs pending migrations; on MySQL under a named lock (GET_LOCK), on PostgreSQL under an advisory
 * lock (pg_advisory_lock, bounded by lock_timeout), so instances starting together apply each
 * migration once. SQLite serialises writers itself and the migrations are idempotent, but
 * TypeORM's own bookkeeping is not: processes starting together on one file may race to create
 * its migrations table ("already exists"), or find their migration's transaction stale when it
 * first writes ("database is locked": in WAL mode a read transaction that another writer overtook
 * cannot be upgraded, and SQLite answers at once rather than waiting). The one that lost rolled
 * back; it tries again and finds the other's migrations recorded.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  if (dataSource.options.type === 'postgres') return runPostgresMigrations(dataSource);
  if (dataSource.options.type !== 'mysql') return runSqliteMigrations(dataSource);
  const runner = dataSource.createQueryRunner();
  try {
    const [row] = await runner.query('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_WAIT_S]);
    if (String(row.got) !== '1') throw new Error(`could not take the migration lock within ${LOCK_WAIT_S}s`);
    try {
      const galera = await waitForCluster(runner);
      for (let attempt = 1; ; attempt++) {
        try {
          return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
        } catch (e) {
          // Galera: GET_LOCK holds on one node only, so an instance starting through another node
          // may apply the same migration meanwhile (DDL runs in the cluster's total order: the
          // second ALTER fails whole, "Duplicate column name"); the loser finds it recorded soon
          if (!galera || attempt >= 40 || !MYSQL_RACE.has((e as { code?: string }).code ?? '')) throw e;
          await new Promise((resolve) => setTimeout(resolve, 250));
          await runner.query('SELECT 1'); // causal (wsrep_sync_wait): sees the other's record once committed
        }
      }
    } finally {
      await runner.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    await runner.release();
  }
}

/** another instance's migration met part way: a table, column, index or row already there */
const MYSQL_RACE = new Set(['ER_TABLE_EXISTS_ERROR', 'ER_DUP_FIELDNAME', 'ER_DUP_KEYNAME', 'ER_DUP_ENTRY']);

/**
 * On Galera, this node may not have applied every migration another node committed yet, and
 * TypeORM reads its migrations table on another connection: one causal read here (each later
 * read on this node sees at least as much) before it looks. True on Galera.
 */
async function waitForCluster(runner: QueryRunner): Promise<boolean> {
  let on: unknown;
  try {
    [{ on }] = await runner.query('SELECT @@global.wsrep_on AS `on`');
  } catch {
    return false; // MySQL without Galera
  }
  if (String(on) !== '1') return false;
  await runner.query('SET SESSION wsrep_sync_wait = 1');
  await runner.query('SELECT 1');
  return true;
}

async function runPostgresMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  try {
    // a session lock, held on this connection while TypeORM migrates on another
    await runner.query(`SET lock_timeout = '${LOCK_WAIT_S}s'`);
    try {
      await runner.query('SELECT pg_advisory_lock(hashtext($1))', [LOCK_NAME]);
    } catch (e) {
      if ((e as { code?: string }).code === '55P03') throw new Error(`could not take the migration lock within ${LOCK_WAIT_S}s`);
      throw e;
    }
    try {
      return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_NAME]);
    }
  } finally {
    await runner.release();
  }
}

const SQLITE_RACE = /already exists|duplicate column name|database is locked/i;

async function runSqliteMigrations(dataSource: DataSource): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
    } catch (e) {
      if (attempt >= 40 || !SQLITE_RACE.test((e as Error).message)) throw e;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
