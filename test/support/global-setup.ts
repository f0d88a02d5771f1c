import { adminConnection, MYSQL_HOST, MYSQL_PORT } from './mysql';
import { PG_HOST, PG_PORT, pgAdminClient } from './postgres';

/**
 * Probes MariaDB and PostgreSQL once. On CI (CI=true) an unreachable database fails the whole run;
 * locally the suites on it report that they did not run and why.
 */
export default async function globalSetup(): Promise<void> {
  await probeMariaDb();
  await probePostgres();
}

async function probePostgres(): Promise<void> {
  try {
    const client = await pgAdminClient();
    await client.query('SELECT 1');
    await client.end();
    process.env.ID_TEST_PG = '1';
  } catch (e) {
    const reason = `no PostgreSQL at ${PG_HOST}:${PG_PORT} (${(e as Error).message})`;
    if (process.env.CI) throw new Error(`CI requires PostgreSQL for the tests: ${reason}`);
    process.env.ID_TEST_PG = '0';
    process.env.ID_TEST_PG_REASON = reason;
    process.stderr.write(`\nPostgreSQL tests will not run: ${reason}\n`);
  }
}

async function probeMariaDb(): Promise<void> {
  try {
    const conn = await adminConnection();
    await conn.query('SELECT 1');
    await conn.end();
    process.env.ID_TEST_MYSQL = '1';
  } catch (e) {
    const reason = `no MariaDB at ${MYSQL_HOST}:${MYSQL_PORT} (${(e as Error).message})`;
    if (process.env.CI) throw new Error(`CI requires MariaDB for the tests: ${reason}`);
    process.env.ID_TEST_MYSQL = '0';
    process.env.ID_TEST_MYSQL_REASON = reason;
    process.stderr.write(`\nMariaDB tests will not run: ${reason}\n`);
  }
}
