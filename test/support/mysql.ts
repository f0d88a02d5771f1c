import { createConnection } from 'mysql2/promise';

export const MYSQL_HOST = process.env.TEST_MYSQL_HOST ?? '127.0.0.1';
export const MYSQL_PORT = Number(process.env.TEST_MYSQL_PORT ?? 3306);
export const MYSQL_USER = process.env.TEST_MYSQL_USER ?? 'root';

/** Set by global-setup: '1' when MariaDB answered, else the reason it did not. */
export function mysqlAvailable(): boolean {
  return process.env.ID_TEST_MYSQL === '1';
}

export function mysqlUnavailableReason(): string {
  return process.env.ID_TEST_MYSQL_REASON ?? 'not probed';
}

export function adminConnection(database?: string) {
  return createConnection({
    host: MYSQL_HOST,
    port: MYSQL_PORT,
    user: MYSQL_USER,
    database,
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: 3000,
  });
}

/** A fresh database for one test file; returns its URL and a function that drops it. */
export async function freshDatabase(tag: string): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${process.env.TEST_DB_PREFIX ?? 'idalloc'}_${tag}_${process.pid}_${Date.now().toString(36)}`.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64);
  const conn = await adminConnection();
  await conn.query(`CREATE DATABASE \`${name}\``);
  await conn.end();
  return {
    name,
    url: `mysql://${MYSQL_USER}@${MYSQL_HOST}:${MYSQL_PORT}/${name}`,
    drop: async () => {
      const c = await adminConnection();
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}
