import { request } from './support/app';
import { sqliteDatabase, TestDatabase } from './support/dialects';
import { adminConnection, freshDatabase, MYSQL_HOST, MYSQL_PORT, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { freePort, ServerProcess, sleep } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

/*
 * Issue 13, "Secrets and volume": no secret in any log line, error body or unauthenticated
 * answer; public keys' volume only behind METRICS_TOKEN. Real processes throughout.
 */

const ADMIN_TOKEN = 'Adm1n/Token+for=the-logs';
const API_TOKEN = 'Api/Token+0123456789=';
const ID_SECRET = 'Id/Secret+0123456789=';
const METRICS_TOKEN = 'Metr1cs/Token+0123456789';
const WRONG_TOKEN = 'Wr0ng/Token+0123456789=';
const DB_PASSWORD = 'Db/Pass+w0rd=s3cret';

const forms = (secret: string) => [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];

/** every secret, in every form, that appears in `text` */
function leaks(text: string, secrets: string[]): string[] {
  return secrets.flatMap((s) => forms(s).filter((f) => text.includes(f)).map((f) => `${s} as ${f}`));
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** a MySQL user with a password, so the URL carries one; undefined without MariaDB */
async function mysqlWithPassword(): Promise<{ url: string; wrongPasswordUrl: string; drop: () => Promise<void> } | undefined> {
  if (!mysqlAvailable()) return undefined;
  const db = await freshDatabase('secrets');
  const user = `idsec_${process.pid}`.slice(0, 32);
  const conn = await adminConnection();
  await conn.query(`DROP USER IF EXISTS '${user}'@'%'`);
  await conn.query(`CREATE USER '${user}'@'%' IDENTIFIED BY ?`, [DB_PASSWORD]);
  await conn.query(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'%'`);
  await conn.end();
  const url = `mysql://${user}:${encodeURIComponent(DB_PASSWORD)}@${MYSQL_HOST}:${MYSQL_PORT}/${db.name}`;
  return {
    url,
    wrongPasswordUrl: url.replace(encodeURIComponent(DB_PASSWORD), encodeURIComponent(`${DB_PASSWORD}-not`)),
    drop: async () => {
      const c = await adminConnection();
      await c.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await c.end();
      await db.drop();
    },
  };
}

/** every admin route (right token, wrong token, none), the id routes, metrics, readiness, docs */
async function driveEverything(url: string): Promise<void> {
  const admin = { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' };
  const json = (method: string, body: unknown, headers: Record<string, string> = admin) => ({ method, headers, body: JSON.stringify(body) });
  const calls: [string, RequestInit?][] = [
    ['/admin/info', { headers: admin }],
    ['/admin/segments', { headers: admin }],
    ['/admin/segments', json('POST', { key: 'plain', step: 100 })],
    ['/admin/segments', json('POST', { key: 'hidden', step: 100, public: true })],
    ['/admin/segments/plain', json('PATCH', { step: 200, description: 'changed' })],
    ['/admin/segments/plain/skip', json('POST', { by: 10 })],
    ['/admin/segments/hidden/reveal', json('POST', { id: '12345' })],
    ['/admin/partitions/1/skip', json('POST', { to: 5 })],
    ['/admin/info', { headers: bearer(WRONG_TOKEN) }],
    ['/admin/segments', json('POST', { key: 'nope' }, { ...bearer(WRONG_TOKEN), 'content-type': 'application/json' })],
    ['/admin/segments/plain/skip', json('POST', { by: 1 }, { ...bearer(WRONG_TOKEN), 'content-type': 'application/json' })],
    ['/admin/info'],
    ['/ids/segment?key=plain&count=5', { headers: bearer(API_TOKEN) }],
    ['/ids/segment?key=hidden&count=5', { headers: bearer(API_TOKEN) }],
    ['/ids/snowflake?count=3', { headers: bearer(API_TOKEN) }],
    ['/ids/ticket', { headers: bearer(API_TOKEN) }],
    ['/ids/segment', { headers: bearer(WRONG_TOKEN) }],
    ['/metrics', { headers: bearer(METRICS_TOKEN) }],
    ['/metrics', { headers: bearer(WRONG_TOKEN) }],
    ['/metrics'],
    ['/health/ready'],
    ['/dashboard'],
    ['/docs-json'],
  ];
  for (const [path, init] of calls) {
    const res = await request(url + path, { ...init, headers: { connection: 'close', ...(init?.headers as Record<string, string>) } });
    expect(res.status).toBeLessThan(500);
    expect(leaks(res.text, [ADMIN_TOKEN, API_TOKEN, ID_SECRET, METRICS_TOKEN, DB_PASSWORD])).toEqual([]);
  }
}

describe('no secret in any log line (LOG_LEVEL=trace)', () => {
  let mysql: Awaited<ReturnType<typeof mysqlWithPassword>>;
  let sqlite: TestDatabase;
  beforeAll(async () => {
    mysql = await mysqlWithPassword();
    sqlite = await sqliteDatabase();
  });
  afterAll(async () => {
    await mysql?.drop();
    await sqlite?.drop();
  });

  const secretsOf = () => [ADMIN_TOKEN, API_TOKEN, ID_SECRET, METRICS_TOKEN, WRONG_TOKEN, ...(mysql ? [DB_PASSWORD] : [])];

  it.each([1, 2])('WORKERS=%i: every admin route, a wrong token, a database URL with a password: no secret in stdout or stderr', async (workers) => {
    if (!mysql) expect(process.env.CI).toBeFalsy(); // locally without MariaDB: SQLite, no database password
    const dbEnv: Record<string, string> = mysql
      ? { DATABASE_URL: mysql.url, PARTITIONS: JSON.stringify([{ idx: 1, total: 1, url: mysql.url }]) }
      : { ...sqlite.env };
    const server = await ServerProcess.start({
      ...dbEnv,
      LOG_LEVEL: 'trace',
      LOG_FORMAT: 'json',
      WORKERS: String(workers),
      ADMIN_TOKEN,
      METRICS_TOKEN,
      ID_SECRET,
      API_TOKENS: JSON.stringify([{ token: API_TOKEN }]),
    });
    try {
      await driveEverything(server.url);
      // the request log is there (so the grep looks at real lines), with the header redacted
      expect(server.output).toMatch(/"url":"\/admin\/info"/);
      expect(server.output).toMatch(/"authorization":"\[redacted\]"/);
    } finally {
      expect((await server.kill('SIGTERM')).code).toBe(0);
    }
    if (workers === 2) expect(server.output).toMatch(/"role":"primary"/);
    // trace level really is on: Nest's route mapping is logged at debug
    expect(server.output).toMatch(/"context":"RouterExplorer"/);
    expect(leaks(server.output, secretsOf())).toEqual([]);
  }, 120_000);

  it('a start refused for a wrong database password names DATABASE_URL, masked', async () => {
    if (!mysql) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    const server = ServerProcess.spawn({ DATABASE_URL: mysql.wrongPasswordUrl, LOG_LEVEL: 'trace', ADMIN_TOKEN }, [], await freePort());
    const exit = await server.exited;
    expect(exit.code).toBe(2);
    expect(server.output).toMatch(/^id-allocator: cannot start: DATABASE_URL: cannot use mysql:\/\/idsec_\d+:\*\*\*@.* login refused/m);
    expect(leaks(server.output, [...secretsOf(), `${DB_PASSWORD}-not`])).toEqual([]);
  }, 60_000);
});

describe('public keys: no per-key figure without METRICS_TOKEN', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  beforeAll(async () => {
    db = await sqliteDatabase();
    server = await ServerProcess.start({ ...db.env, ADMIN_TOKEN, METRICS_TOKEN, ID_SECRET });
    const admin = { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' };
    for (const body of [
      { key: 'hidden', step: 100, public: true },
      { key: 'plain', step: 100 },
    ]) {
      expect((await request(`${server.url}/admin/segments`, { method: 'POST', headers: admin, body: JSON.stringify(body) })).status).toBe(201);
    }
    for (const key of ['hidden', 'plain']) expect((await request(`${server.url}/ids/segment?key=${key}&count=7`)).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await server?.kill();
    await db?.drop();
  });

  it('unauthenticated /metrics: the plain key counted, the public key only as up or down', async () => {
    const res = await request(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/idalloc_ids_issued_total\{strategy="segment",key="plain"\} 7/);
    expect(res.text).toMatch(/idalloc_id_space_used_ratio\{strategy="segment",key="plain"\}/);
    const hiddenSeries = res.text.split('\n').filter((l) => !l.startsWith('#') && l.includes('key="hidden"'));
    expect(hiddenSeries.filter((l) => !l.startsWith('idalloc_segment_key_down{'))).toEqual([]);
  });

  it('with METRICS_TOKEN every per-key series; a wrong token is refused', async () => {
    const res = await request(`${server.url}/metrics`, { headers: bearer(METRICS_TOKEN) });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/idalloc_ids_issued_total\{strategy="segment",key="hidden"\} 7/);
    expect(res.text).toMatch(/idalloc_id_space_used_ratio\{strategy="segment",key="hidden"\}/);
    expect(res.text).toMatch(/idalloc_segment_ids_left\{strategy="segment",key="hidden"\}/);
    const wrong = await request(`${server.url}/metrics`, { headers: bearer(WRONG_TOKEN) });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('UNAUTHORIZED');
  });

  it('readiness: no idsLeft for the public key, no pid or host of this instance', async () => {
    const res = await request(`${server.url}/health/ready`);
    expect(res.status).toBe(200);
    const keys = res.body.details.segment.keys;
    expect(keys.plain.idsLeft).toBeGreaterThan(0);
    expect(keys.hidden).toEqual({ status: 'up' });
    expect(res.body.details.instance).toEqual({ status: 'up' });
    expect(res.text).not.toMatch(/"pid"|"host"/);
  });
});

if (!mysqlAvailable()) {
  it(`database driver text tests did not run: ${mysqlUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe('a database outage: the stable code for callers, the driver text in the log', () => {
    it('503 bodies and readiness name no address and no driver text', async () => {
      const db = await freshDatabase('drivertext');
      const proxy = await TcpProxy.start(MYSQL_HOST, MYSQL_PORT);
      const url = db.url.replace(`:${MYSQL_PORT}/`, `:${proxy.port}/`);
      const server = await ServerProcess.start({ DATABASE_URL: url, SEGMENT_WAIT_MS: '300' });
      const address = new RegExp(`ECONNREFUSED|${proxy.port}|127\\.0\\.0\\.1|connect `);
      try {
        await proxy.set('cut');
        let ticket: Awaited<ReturnType<typeof request>> | undefined;
        for (let i = 0; i < 50; i++) {
          ticket = await request(`${server.url}/ids/ticket`);
          if (ticket.status === 503) break;
          await sleep(100);
        }
        expect(ticket!.status).toBe(503);
        expect(ticket!.body.code).toBe('DATABASE_UNAVAILABLE');
        expect(ticket!.text).not.toMatch(address);
        // a key never loaded here needs the database too
        const segment = await request(`${server.url}/ids/segment?key=not-loaded-yet`);
        expect(segment.status).toBe(503);
        expect(segment.text).not.toMatch(address);
        const alloc = await request(`${server.url}/alloc`);
        expect(alloc.text).not.toMatch(address);
        const ready = await request(`${server.url}/health/ready`);
        expect(ready.body.details.ticket.database).toMatchObject({ status: 'down', code: 'DATABASE_UNAVAILABLE' });
        expect(ready.text).not.toMatch(address);
        // the operator still finds the driver's words in the log
        for (let i = 0; i < 50 && !/ECONNREFUSED/.test(server.output); i++) await sleep(100);
        expect(server.output).toMatch(/ECONNREFUSED/);
      } finally {
        await proxy.set('pass');
        await server.kill();
        await proxy.close();
        await db.drop();
      }
    }, 90_000);
  });
}
