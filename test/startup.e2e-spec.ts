import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from './support/app';
import { dialects, mysqlDatabase, openDatabase, postgresDatabase, sqliteDatabase } from './support/dialects';
import { adminConnection, freshDatabase, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, mysqlAvailable } from './support/mysql';
import { freshPgDatabase, PG_HOST, PG_PORT, pgAdminClient, pgAvailable } from './support/postgres';
import { freePort, ServerProcess, sleep } from './support/process';

/*
 * Issue 16, "Starting and stopping", with real processes: one line and exit 2 for each start-up
 * failure, the start line, both log formats, exit codes of shutdowns (README, "Exit codes").
 */

const tmp = () => mkdtempSync(join(tmpdir(), 'idalloc-start-'));

/** starts a process that must refuse; its whole output and exit code */
async function refusal(env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
  const server = ServerProcess.spawn({ LOG_LEVEL: 'info', ...env }, [], env.PORT ? Number(env.PORT) : await freePort());
  // bounded: a process that starts after all is killed and fails the test
  const exit = await Promise.race([server.exited, sleep(40_000).then(() => server.kill('SIGKILL'))]);
  return { code: exit.code, lines: server.output.split('\n').filter((l) => l.trim() !== '') };
}

describe('a start-up failure is one line naming the setting and what to do, exit 2', () => {
  it('nothing listens at the database port: refused at once, one attempt', async () => {
    const port = await freePort();
    const { code, lines } = await refusal({ DATABASE_URL: `mysql://app:pw-not-shown@127.0.0.1:${port}/ids` });
    expect(code).toBe(2);
    expect(lines).toEqual([
      `id-allocator: cannot start: DATABASE_URL: cannot use mysql://app:***@127.0.0.1:${port}/ids: 127.0.0.1:${port} connection refused. To do: start the database, or correct the host and port in DATABASE_URL.`,
    ]);
  });

  it('each host of a multi-host URL is tried once, and the line names them all', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const { code, lines } = await refusal({ DATABASE_URL: `mysql://app@127.0.0.1:${a},127.0.0.1:${b}/ids` });
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`127.0.0.1:${a} connection refused; 127.0.0.1:${b} connection refused`);
  });

  it('a login refused, and a database that does not exist (MariaDB)', async () => {
    if (!mysqlAvailable()) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    const login = await refusal({ DATABASE_URL: `mysql://no_such_user_x:pw-not-shown@${MYSQL_HOST}:${MYSQL_PORT}/ids` });
    expect(login.code).toBe(2);
    expect(login.lines).toHaveLength(1);
    expect(login.lines[0]).toMatch(/^id-allocator: cannot start: DATABASE_URL: cannot use mysql:\/\/no_such_user_x:\*\*\*@.* login refused for user "no_such_user_x"\. To do: correct the user and password in DATABASE_URL, or create the user\.$/);
    const db = await freshDatabase('startup');
    await db.drop();
    const missing = await refusal({ DATABASE_URL: db.url });
    expect(missing.code).toBe(2);
    expect(missing.lines).toEqual([
      `id-allocator: cannot start: DATABASE_URL: cannot use ${db.url}: ${MYSQL_HOST}:${MYSQL_PORT} database "${db.name}" does not exist. To do: create it (CREATE DATABASE \`${db.name}\`), or correct the name in DATABASE_URL.`,
    ]);
  });

  it('a SQLITE_PATH that cannot be a database file', async () => {
    const dir = tmp();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a database, not a folder');
    const under = await refusal({ SQLITE_PATH: join(file, 'ids.sqlite') });
    expect(under.code).toBe(2);
    expect(under.lines).toEqual([
      `id-allocator: cannot start: SQLITE_PATH: cannot use ${join(file, 'ids.sqlite')}: a part of the path is a file, not a folder. To do: set SQLITE_PATH to a writable file path (its folder is created).`,
    ]);
    const notDb = await refusal({ SQLITE_PATH: file });
    expect(notDb.code).toBe(2);
    expect(notDb.lines).toHaveLength(1);
    expect(notDb.lines[0]).toMatch(/^id-allocator: cannot start: SQLITE_PATH: cannot use .*: the file is not a SQLite database\./);
  });

  it('a bad setting, a secret among them, without echoing the secret', async () => {
    const { code, lines } = await refusal({ ID_SECRET: 'short-secret' });
    expect(code).toBe(2);
    expect(lines).toEqual(['id-allocator: invalid configuration: ID_SECRET: must be at least 16 characters (value not shown, from environment)']);
  });

  it('PostgreSQL: nothing listening, each host of a multi-host URL once, in one line', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const { code, lines } = await refusal({ DATABASE_URL: `postgres://app:pw-not-shown@127.0.0.1:${a},127.0.0.1:${b}/ids` });
    expect(code).toBe(2);
    expect(lines).toEqual([
      `id-allocator: cannot start: DATABASE_URL: cannot use postgres://app:***@127.0.0.1:${a},127.0.0.1:${b}/ids: 127.0.0.1:${a} connection refused; 127.0.0.1:${b} connection refused. To do: start the database, or correct the host and port in DATABASE_URL.`,
    ]);
  });

  it('PostgreSQL: a login refused, and a database that does not exist', async () => {
    if (!pgAvailable()) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    // trust for every user on 127.0.0.1: a role that does not exist is the refusal the server gives
    const login = await refusal({ DATABASE_URL: `postgres://no_such_user_x:pw-not-shown@${PG_HOST}:${PG_PORT}/postgres` });
    expect(login.code).toBe(2);
    expect(login.lines).toEqual([
      `id-allocator: cannot start: DATABASE_URL: cannot use postgres://no_such_user_x:***@${PG_HOST}:${PG_PORT}/postgres: ${PG_HOST}:${PG_PORT} login refused for user "no_such_user_x". To do: correct the user and password in DATABASE_URL, or create the user.`,
    ]);
    const db = await freshPgDatabase('startup');
    await db.drop();
    const missing = await refusal({ DATABASE_URL: db.url });
    expect(missing.code).toBe(2);
    expect(missing.lines).toEqual([
      `id-allocator: cannot start: DATABASE_URL: cannot use ${db.url}: ${PG_HOST}:${PG_PORT} database "${db.name}" does not exist. To do: create it (CREATE DATABASE "${db.name}"), or correct the name in DATABASE_URL.`,
    ]);
  });

  it.each(dialects())('a port already in use (%s): refused before the app is built, so no worker id is taken and no start-up step is logged', async (dialect) => {
    const db = await openDatabase(dialect, 'portinuse');
    const first = await ServerProcess.start({ ...db.env });
    const leases = async () =>
      (await db.query('SELECT worker_id, instance_id FROM worker_node WHERE instance_id IS NOT NULL ORDER BY worker_id')).map((r) => `${r.worker_id}:${r.instance_id}`);
    try {
      const before = await leases();
      expect(before).toHaveLength(1); // the first instance's
      const { code, lines } = await refusal({ ...db.env, PORT: String(first.port), LOG_LEVEL: 'debug' });
      expect(code).toBe(2);
      // the one line and nothing else: no migrations, layout or "took worker id" lines before it
      expect(lines).toEqual([
        `id-allocator: cannot start: PORT/HOST: cannot listen on 127.0.0.1:${first.port}: the port is in use. To do: stop what uses it or set another PORT (or HOST).`,
      ]);
      expect(await leases()).toEqual(before);
      // WORKERS=2: the primary checks before it forks, so no worker starts at all
      const cluster = await refusal({ ...db.env, PORT: String(first.port), WORKERS: '2', LOG_LEVEL: 'debug' });
      expect(cluster.code).toBe(2);
      expect(cluster.lines).toEqual(lines);
      expect(await leases()).toEqual(before);
    } finally {
      await first.kill();
      await db.drop();
    }
  }, 90_000);
});

describe('warnings about the PostgreSQL server in use: one line each, naming the setting', () => {
  if (!pgAvailable()) {
    it('did not run: no PostgreSQL (on CI it must be there)', () => expect(process.env.CI).toBeFalsy());
    return;
  }

  it('the durability settings as the local server has them: a line for each that can lose acknowledged commits', async () => {
    const db = await postgresDatabase('warnpg');
    try {
      const admin = await pgAdminClient();
      const { rows } = await admin
        .query("SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc, current_setting('full_page_writes') AS fpw")
        .finally(() => admin.end());
      const server = await ServerProcess.start({ ...db.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' });
      await server.kill();
      const lines = server.output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((e) => e.level === 40)
        .map((e) => e.msg);
      const expected = [
        ...(rows[0].fsync !== 'on' ? [`fsync=${rows[0].fsync}`] : []),
        ...(rows[0].sc === 'off' ? ['synchronous_commit=off'] : []),
        ...(rows[0].fpw !== 'on' ? [`full_page_writes=${rows[0].fpw}`] : []),
      ];
      expect(lines.filter((l) => l.startsWith(`${PG_HOST}:${PG_PORT}: `)).map((l) => /: (\w+=\w+):/.exec(l)?.[1])).toEqual(expected);
    } finally {
      await db.drop();
    }
  }, 60_000);
});

describe('warnings about the MySQL server in use: one line each, naming the setting', () => {
  if (!mysqlAvailable()) {
    it('did not run: no MariaDB (on CI it must be there)', () => expect(process.env.CI).toBeFalsy());
    return;
  }

  /** the warn-level lines (JSON) of one start and stop */
  async function warnings(env: Record<string, string>): Promise<string[]> {
    const server = await ServerProcess.start({ ...env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' });
    await server.kill();
    return server.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((e) => e.level === 40)
      .map((e) => e.msg);
  }

  it('a user exempt from read_only (the admin user of the tests holds ALL PRIVILEGES), and the durability settings as the local server has them', async () => {
    const db = await mysqlDatabase('warnroot');
    try {
      const [facts] = await db.query('SELECT @@global.innodb_flush_log_at_trx_commit AS flush, @@global.sync_binlog AS sync, @@global.log_bin AS logBin');
      const lines = await warnings(db.env);
      const host = `${MYSQL_HOST}:${MYSQL_PORT}`;
      expect(lines.filter((l) => l.includes('read_only'))).toEqual([
        `${host}: user "${MYSQL_USER}" holds ALL PRIVILEGES, so it can write while read_only is ON (a replica, a demoted primary). To do: connect as a user with only the grants on the database (docs/operations.md, "High availability").`,
      ]);
      // whatever this server has: a line for each setting that is not 1 (sync_binlog only with a binary log)
      const expected = [
        ...(String(facts.flush) !== '1' ? [`innodb_flush_log_at_trx_commit=${facts.flush}`] : []),
        ...(String(facts.sync) !== '1' && String(facts.logBin) === '1' ? [`sync_binlog=${facts.sync}`] : []),
      ];
      expect(lines.filter((l) => / (innodb_flush_log_at_trx_commit|sync_binlog)=/.test(l)).map((l) => /: (\w+=\d+):/.exec(l)?.[1])).toEqual(expected);
    } finally {
      await db.drop();
    }
  }, 60_000);

  it('no read_only line for a user with grants on its database only', async () => {
    const db = await mysqlDatabase('warnuser');
    const user = `idw_${process.pid}`;
    const admin = await adminConnection();
    try {
      await admin.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY 'warn-test-pw'`);
      await admin.query(`GRANT ALL PRIVILEGES ON \`${(db.env.DATABASE_URL.split('/').pop() as string)}\`.* TO '${user}'@'127.0.0.1'`);
      const url = db.env.DATABASE_URL.replace(/^mysql:\/\/[^@]*@/, `mysql://${user}:warn-test-pw@`);
      const lines = await warnings({ DATABASE_URL: url });
      expect(lines.filter((l) => l.includes('read_only'))).toEqual([]);
    } finally {
      await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
      await admin.end();
      await db.drop();
    }
  }, 60_000);
});

describe('the start line and the log formats', () => {
  it('LOG_FORMAT=json: every line JSON with an ISO time; the ready line, last of the start, names the URL, the docs and the database; no Nest boilerplate at info', async () => {
    const db = await sqliteDatabase();
    const server = await ServerProcess.start({ ...db.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' });
    await server.kill();
    const lines = server.output.split('\n').filter((l) => l !== '');
    const entries = lines.map((l) => JSON.parse(l) as { level: number; time: string; msg: string; context?: string });
    for (const e of entries) expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const start = entries.find((e) => e.msg.includes('listening on'));
    expect(start?.level).toBe(30);
    // the ready line comes last: every start-up step and warning before it, only the shutdown after
    const closing = entries.findIndex((e) => e.msg.startsWith('SIGTERM: '));
    expect(closing).toBeGreaterThan(0);
    expect(entries[closing - 1]).toBe(start);
    expect(start!.msg).toBe(
      `ready: id-allocator listening on ${server.url} (bound to 127.0.0.1:${server.port}); docs ${server.url}/docs; database sqlite ${db.env.SQLITE_PATH}`,
    );
    // start-up steps at info in one short line each (migrations, snowflake layout, partition layout,
    // worker id); no 1970-01-01 "reservation" on a new database, at start or at the release
    const steps = entries.slice(0, closing - 1).filter((e) => e.level === 30);
    expect(steps.map((e) => e.context)).toEqual(['Database', 'Snowflake', 'Partition', 'Snowflake']);
    expect(steps.filter((e) => e.msg.length > 160).map((e) => e.msg)).toEqual([]);
    expect(steps[0].msg).toMatch(/^sqlite: applied \d+ migrations, Init\d+ to \w+\d+$/);
    expect(lines.filter((l) => l.includes('1970-01-01'))).toEqual([]);
    expect(entries.map((e) => e.context)).not.toContain('InstanceLoader');
    expect(entries.map((e) => e.context)).not.toContain('RouterExplorer');
    expect(lines.length).toBeLessThan(15);
    await db.drop();
  }, 60_000);

  it('admin reads log at debug, admin writes at info; pretty request lines take one line each', async () => {
    const db = await sqliteDatabase();
    const ADMIN_TOKEN = 'startup-admin-token-0123456789';
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    for (const LOG_LEVEL of ['info', 'debug']) {
      const server = await ServerProcess.start({ ...db.env, LOG_FORMAT: 'json', LOG_LEVEL, ADMIN_TOKEN });
      expect((await request(`${server.url}/admin/segments`, { headers: auth })).status).toBe(200);
      const body = JSON.stringify({ key: `k${LOG_LEVEL}` });
      expect((await request(`${server.url}/admin/segments`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body })).status).toBe(201);
      await server.kill();
      const completed = server.output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string; req?: { method: string } })
        .filter((e) => e.msg === 'request completed')
        .map((e) => `${e.req?.method} ${e.level}`);
      expect(completed).toEqual(LOG_LEVEL === 'info' ? ['POST 30'] : ['GET 20', 'POST 30']);
    }
    const pretty = await ServerProcess.start({ ...db.env, LOG_FORMAT: 'pretty', LOG_LEVEL: 'info', ADMIN_TOKEN });
    const body = JSON.stringify({ key: 'kpretty' });
    expect((await request(`${pretty.url}/admin/segments`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body })).status).toBe(201);
    await pretty.kill();
    const line = pretty.output.split('\n').find((l) => l.includes('request completed'));
    expect(line).toMatch(/request completed .*"method":"POST".*"statusCode":201/);
    await db.drop();
  }, 60_000);

  it('LOG_FORMAT=pretty: pino-pretty lines with readable local times; boilerplate at debug', async () => {
    const db = await sqliteDatabase();
    const server = await ServerProcess.start({ ...db.env, LOG_FORMAT: 'pretty', LOG_LEVEL: 'debug' });
    await server.kill();
    const lines = server.output.split('\n').filter((l) => l !== '');
    for (const l of lines) expect(l).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \(\d+\): /);
    expect(lines.some((l) => / INFO \(\d+\): ready: id-allocator listening on http:\/\/127\.0\.0\.1:\d+ .*docs .*database sqlite /.test(l))).toBe(true);
    expect(lines.some((l) => / DEBUG \(\d+\): \[RouterExplorer\] Mapped \{/.test(l))).toBe(true);
    expect(lines.some((l) => / INFO .*\[(InstanceLoader|RouterExplorer|RoutesResolver)\]/.test(l))).toBe(false);
    await db.drop();
  }, 60_000);
});

describe('exit codes (README, "Exit codes")', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s after a clean shutdown: exit 0, the signal not re-raised', async (signal) => {
    const db = await sqliteDatabase();
    const server = await ServerProcess.start({ ...db.env });
    expect((await request(`${server.url}/ids/segment`)).status).toBe(200);
    const exit = await server.kill(signal);
    expect(exit).toEqual({ code: 0, signal: null });
    await db.drop();
  }, 60_000);

  it('a shutdown past SHUTDOWN_GRACE_MS (a request still arriving): exit 1', async () => {
    const db = await sqliteDatabase();
    const server = await ServerProcess.start({ ...db.env, SHUTDOWN_GRACE_MS: '500', LOG_LEVEL: 'info' });
    // a request whose body never finishes keeps the close waiting
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /admin/segments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"key":');
    await sleep(300);
    const exit = await server.kill('SIGTERM');
    socket.destroy();
    expect(exit.code).toBe(1);
    expect(server.output).toMatch(/shutdown took longer than SHUTDOWN_GRACE_MS=500 ms/);
    await db.drop();
  }, 60_000);

  it('WORKERS=2: SIGINT ends the primary with 0 once both workers closed', async () => {
    const db = await sqliteDatabase();
    const server = await ServerProcess.start({ ...db.env, WORKERS: '2' });
    expect((await request(`${server.url}/ids/segment`)).status).toBe(200);
    expect(await server.kill('SIGINT')).toEqual({ code: 0, signal: null });
    await db.drop();
  }, 60_000);

  it('WORKERS=2: a worker refusing to start (ID_SECRET mismatch) ends the whole process with 2 and its message, no restart loop', async () => {
    const db = await sqliteDatabase();
    const first = await ServerProcess.start({ ...db.env, ID_SECRET: 'the-first-secret-0123' });
    await first.kill();
    const server = ServerProcess.spawn({ ...db.env, WORKERS: '2', ID_SECRET: 'another-secret-0123456' }, [], await freePort());
    const exit = await Promise.race([server.exited, sleep(45_000).then(() => undefined)]);
    if (exit === undefined) await server.kill('SIGKILL');
    expect(exit?.code).toBe(2);
    const refusals = server.output.match(/id-allocator: cannot start: ID_SECRET is not the secret this database was first used with/g) ?? [];
    // one per worker at most: nobody started a third
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.length).toBeLessThanOrEqual(2);
    expect(server.output).toMatch(/refused to run \(exit 2; its message is above\): stopping every worker/);
    expect(server.output).not.toMatch(/starting another/);
    await db.drop();
  }, 60_000);
});

describe('processes started together on one new SQLite file', () => {
  // the migrations race: the loser's transaction finds the file overtaken ("database is locked",
  // answered at once in WAL mode) or a table already made; it must try again, not refuse to start
  it('six at once, three times over: every one comes up and answers ids', async () => {
    for (let round = 0; round < 3; round++) {
      const db = await sqliteDatabase();
      const started = await Promise.allSettled(Array.from({ length: 6 }, () => ServerProcess.start({ ...db.env }, [], 60_000)));
      const up = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      try {
        expect(started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason).slice(0, 600))).toEqual([]);
        for (const server of up) expect((await request(`${server.url}/ids/segment`)).status).toBe(200);
      } finally {
        await Promise.all(up.map((s) => s.kill('SIGKILL')));
        await db.drop();
      }
    }
  }, 240_000);
});

describe("the README's database setup, run as written (other names): a user the service starts with, no read_only warning", () => {
  /** the README's SQL line for `which` ("MySQL" or "PostgreSQL"), its names and password replaced, split into statements */
  function readmeSql(which: string, name: string, password: string): string[] {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const block = readme.match(/^```sql\n([\s\S]*?)^```$/m)?.[1] ?? '';
    const line = block.split('\n').find((l) => new RegExp(`--.*\\b${which}\\b`).test(l));
    expect(line).toBeDefined();
    return line!
      .replace(/--.*$/, '')
      .replace(/\bids\b/g, name)
      .replace(/'secret'/g, `'${password}'`)
      .split(';')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  /** starts on `url`, asks for ids, stops: the warn-level lines */
  async function startAs(url: string): Promise<string[]> {
    const server = await ServerProcess.start({ DATABASE_URL: url, LOG_FORMAT: 'json', LOG_LEVEL: 'info' });
    const res = await request(`${server.url}/ids/segment?count=2`);
    expect(res.status).toBe(200);
    expect(res.body.ids).toEqual(['1', '2']);
    await server.kill();
    return server.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((e) => e.level === 40)
      .map((e) => e.msg);
  }

  const name = `idalloc_readme_${process.pid}`;
  const password = 'readme-test-pw';

  it('MySQL / MariaDB', async () => {
    if (!mysqlAvailable()) return expect(process.env.CI).toBeFalsy(); // no MariaDB here (on CI it must be there)
    const statements = readmeSql('MySQL', name, password);
    expect(statements).toHaveLength(3);
    const admin = await adminConnection();
    try {
      for (const sql of statements) await admin.query(sql);
      const warnings = await startAs(`mysql://${name}:${password}@${MYSQL_HOST}:${MYSQL_PORT}/${name}`);
      expect(warnings.filter((l) => l.includes('read_only'))).toEqual([]);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.query(`DROP USER IF EXISTS '${name}'@'%'`);
      await admin.end();
    }
  }, 60_000);

  it('PostgreSQL', async () => {
    if (!pgAvailable()) return expect(process.env.CI).toBeFalsy(); // no PostgreSQL here (on CI it must be there)
    const statements = readmeSql('PostgreSQL', name, password);
    expect(statements).toHaveLength(2);
    const admin = await pgAdminClient();
    try {
      for (const sql of statements) await admin.query(sql);
      await startAs(`postgres://${name}:${password}@${PG_HOST}:${PG_PORT}/${name}`);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.query(`DROP USER IF EXISTS "${name}"`);
      await admin.end();
    }
  }, 60_000);
});
