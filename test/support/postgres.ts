import { Client } from 'pg';

export const PG_HOST = process.env.TEST_PG_HOST ?? '127.0.0.1';
export const PG_PORT = Number(process.env.TEST_PG_PORT ?? 5432);
export const PG_USER = process.env.TEST_PG_USER ?? 'root';

/** Set by global-setup: '1' when PostgreSQL answered, else the reason it did not. */
export function pgAvailable(): boolean {
  return process.env.ID_TEST_PG === '1';
}

export function pgUnavailableReason(): string {
  return process.env.ID_TEST_PG_REASON ?? 'not probed';
}

/** A connected client (trust auth) to `database`, or to the `postgres` database for CREATE/DROP DATABASE. */
export async function pgAdminClient(database = 'postgres'): Promise<Client> {
  const client = new Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A fresh database for one test file; returns its URL and a function that drops it (with whatever is still connected). */
export async function freshPgDatabase(tag: string): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${process.env.TEST_DB_PREFIX ?? 'idalloc'}_${tag}_${process.pid}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
  const admin = await pgAdminClient();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${name}`,
    drop: async () => {
      const c = await pgAdminClient();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
