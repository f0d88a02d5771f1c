import { adminConnection, MYSQL_HOST, MYSQL_PORT } from './mysql';

/**
 * Probes MariaDB once. On CI (CI=true) an unreachable database fails the whole run; locally the
 * MariaDB suites report that they did not run and why.
 */
export default async function globalSetup(): Promise<void> {
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
