import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { SnowflakeLayout } from '@app/snowflake';
import { request } from './support/app';
import { tracked } from './support/children';
import { adminConnection } from './support/mysql';
import { pgAdminClient } from './support/postgres';
import { ServerProcess, sleep } from './support/process';

/** Helpers of the snowflake e2e suites (SQLite, MariaDB and PostgreSQL run the same scenarios). */

export const layout = SnowflakeLayout.parse('41,10,12', '2025-01-01T00:00:00Z');
export const ts = (id: string) => layout.decode(id).timestampMs;
export const worker = (id: string) => layout.decode(id).workerId;

export interface WorkerRow {
  worker_id: number;
  instance_id: string | null;
  reserved_until: number;
}

/** worker_node read straight from the database, not through any instance. */
export interface Db {
  env: Record<string, string>;
  rows(): Promise<WorkerRow[]>;
  row(workerId: number): Promise<WorkerRow | undefined>;
  /** as if the last holder's clock had been ahead: a test's way to put the clock behind a reservation */
  setReservation(workerId: number, reservedUntil: number): Promise<void>;
}

export function sqliteDb(path: string): Db {
  const rows = async () => {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT worker_id, instance_id, reserved_until FROM worker_node ORDER BY worker_id').all() as WorkerRow[]).map(norm);
    } finally {
      db.close();
    }
  };
  const setReservation = async (id: number, until: number) => {
    const db = new Database(path, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      db.prepare('UPDATE worker_node SET reserved_until = ? WHERE worker_id = ?').run(until, id);
    } finally {
      db.close();
    }
  };
  return { env: { SQLITE_PATH: path }, rows, row: async (id) => (await rows()).find((r) => r.worker_id === id), setReservation };
}

export function mysqlDb(url: string, name: string): Db {
  const rows = async () => {
    const conn = await adminConnection(name);
    try {
      const [r] = await conn.query('SELECT worker_id, instance_id, reserved_until FROM worker_node ORDER BY worker_id');
      return (r as WorkerRow[]).map(norm);
    } finally {
      await conn.end();
    }
  };
  const setReservation = async (id: number, until: number) => {
    const conn = await adminConnection(name);
    try {
      await conn.query('UPDATE worker_node SET reserved_until = ? WHERE worker_id = ?', [until, id]);
    } finally {
      await conn.end();
    }
  };
  return { env: { DATABASE_URL: url }, rows, row: async (id) => (await rows()).find((r) => r.worker_id === id), setReservation };
}

export function postgresDb(url: string, name: string): Db {
  const run = async <T>(sql: string, values: unknown[] = []): Promise<T[]> => {
    const client = await pgAdminClient(name);
    try {
      return (await client.query(sql, values)).rows as T[];
    } finally {
      await client.end();
    }
  };
  const rows = async () => (await run<WorkerRow>('SELECT worker_id, instance_id, reserved_until FROM worker_node ORDER BY worker_id')).map(norm);
  const setReservation = async (id: number, until: number) => void (await run('UPDATE worker_node SET reserved_until = $1 WHERE worker_id = $2', [until, id]));
  return { env: { DATABASE_URL: url }, rows, row: async (id) => (await rows()).find((r) => r.worker_id === id), setReservation };
}

const norm = (r: WorkerRow): WorkerRow => ({ worker_id: Number(r.worker_id), instance_id: r.instance_id, reserved_until: Number(r.reserved_until) });

/** Short leases keep the suites quick; LOG_LEVEL warn keeps the lease's warnings in the output. */
export const FAST = {
  SNOWFLAKE_LEASE_MS: '1500',
  SNOWFLAKE_RENEW_MS: '500',
  SNOWFLAKE_RESERVE_MS: '1500',
  SNOWFLAKE_MAX_SKEW_MS: '100',
  SNOWFLAKE_START_WAIT_MS: '20000',
};

export async function ids(server: ServerProcess, count: number): Promise<string[]> {
  const res = await request(`${server.url}/ids/snowflake?count=${count}`);
  if (res.status !== 200) throw new Error(`GET /ids/snowflake: ${res.status} ${res.text}`);
  return res.body.ids as string[];
}

export async function readiness(server: ServerProcess): Promise<{ status: number; body: any }> {
  const res = await request(`${server.url}/health/ready`);
  return { status: res.status, body: res.body };
}

/** Polls readiness until 200; returns every not-ready reason seen on the way. */
export async function waitReady(server: ServerProcess, timeoutMs = 30_000): Promise<string[]> {
  const reasons: string[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await readiness(server);
      if (r.status === 200) return reasons;
      const reason = r.body?.error?.snowflake?.reason ?? JSON.stringify(r.body?.error ?? r.body);
      if (reasons[reasons.length - 1] !== reason) reasons.push(reason);
    } catch {
      /* not listening yet */
    }
    await sleep(50);
  }
  throw new Error(`not ready after ${timeoutMs} ms; reasons seen: ${reasons.join(' | ')}\n${server.output}`);
}

export async function startReady(env: Record<string, string>): Promise<ServerProcess> {
  const server = await ServerProcess.start(env);
  await waitReady(server);
  return server;
}

/** Every id in `list` once: throws naming the first repeat. */
export function expectUnique(list: string[]): void {
  const seen = new Set<string>();
  for (const id of list) {
    if (seen.has(id)) throw new Error(`duplicate id ${id} (${JSON.stringify(layout.decode(id))})`);
    seen.add(id);
  }
  expect(seen.size).toBe(list.length);
}

/** Draws `total` ids in batches of `batch` from the servers in turn, `parallel` requests at a time per server. */
export async function drain(servers: ServerProcess[], total: number, batch = 10_000, parallel = 2): Promise<string[][]> {
  const perServer = servers.map(() => [] as string[]);
  let left = Math.ceil(total / batch);
  await Promise.all(
    servers.flatMap((server, i) =>
      Array.from({ length: parallel }, async () => {
        while (left > 0) {
          left--;
          perServer[i].push(...(await ids(server, batch)));
        }
      }),
    ),
  );
  return perServer;
}

/** Child processes that take a worker id at the same instant (see snowflake-lease-child.js). */
export async function leaseContenders(n: number, env: Record<string, string>): Promise<{ workerIds: (number | null)[]; details: any[] }> {
  const children: ChildProcess[] = [];
  const answers: Promise<any>[] = [];
  const readies: Promise<void>[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const child = tracked(
        spawn(process.execPath, [join(__dirname, 'snowflake-lease-child.js')], {
          env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
          stdio: ['pipe', 'pipe', 'pipe'],
        }),
      );
      children.push(child);
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const lines = createInterface({ input: child.stdout! });
      const messages: any[] = [];
      const waiters: ((m: any) => void)[] = [];
      lines.on('line', (l) => {
        const m = JSON.parse(l);
        const w = waiters.shift();
        if (w) w(m);
        else messages.push(m);
      });
      const nextMessage = () =>
        new Promise<any>((resolve, reject) => {
          const m = messages.shift();
          if (m) return resolve(m);
          waiters.push(resolve);
          child.once('exit', (code) => reject(new Error(`contender exited ${code}: ${err}`)));
        });
      readies.push(
        nextMessage().then((m) => {
          if (!m.ready) throw new Error(`contender failed: ${JSON.stringify(m)} ${err}`);
        }),
      );
      answers.push(readies[i].then(() => nextMessage()));
    }
    await Promise.all(readies);
    for (const child of children) child.stdin!.write('go\n'); // the barrier
    const details = await Promise.all(answers);
    return { workerIds: details.map((d) => (d.workerId ?? null) as number | null), details };
  } finally {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.stdin!.write('release\n');
          }),
      ),
    );
  }
}
