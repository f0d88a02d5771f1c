import { dataSourceOptions } from '@app/database';
import { DataSource } from 'typeorm';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';
import { adminConnection, freshDatabase, MYSQL_HOST, MYSQL_PORT, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { TcpProxy } from './support/tcp-proxy';

if (!mysqlAvailable()) {
  it(`MariaDB foundation tests did not run: ${mysqlUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy(); // on CI global-setup already failed the run
  });
} else {
  describe('foundation on MariaDB', () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let app: RunningApp;

    beforeAll(async () => {
      db = await freshDatabase('foundation');
      app = await startApp(testConfig({ DATABASE_URL: db.url }));
    });
    afterAll(async () => {
      await app?.close();
      await db?.drop();
    });

    it('runs the migrations at start, recorded in the migrations table', async () => {
      const conn = await adminConnection(db.name);
      try {
        const [tables] = await conn.query('SHOW TABLES');
        const names = (tables as Record<string, string>[]).map((r) => Object.values(r)[0]);
        expect(names).toEqual(expect.arrayContaining(['id_meta', 'migrations']));
        const [applied] = await conn.query('SELECT name FROM migrations');
        expect((applied as { name: string }[]).map((r) => r.name)).toContain('Init1767225600000');
      } finally {
        await conn.end();
      }
    });

    it('serves ids and is ready', async () => {
      expect((await app.get('/ids/uuidv7')).status).toBe(200);
      expect((await app.get('/health/ready')).status).toBe(200);
    });

    it('a second instance on the same database starts without re-applying migrations', async () => {
      const second = await startApp(testConfig({ DATABASE_URL: db.url }));
      try {
        expect((await second.get('/health/ready')).status).toBe(200);
        const conn = await adminConnection(db.name);
        const [rows] = await conn.query("SELECT COUNT(*) AS n FROM migrations WHERE name = 'Init1767225600000'");
        await conn.end();
        expect(Number((rows as { n: string }[])[0].n)).toBe(1);
      } finally {
        await second.close();
      }
    });
  });

  describe('a database that accepts connections and never answers', () => {
    it('fails the connect within the connect timeout instead of hanging', async () => {
      const proxy = await TcpProxy.start(MYSQL_HOST, MYSQL_PORT);
      await proxy.set('blackhole');
      const config = testConfig({ DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}/test` });
      const started = Date.now();
      await expect(new DataSource(dataSourceOptions(config)).initialize()).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(10_000);
      await proxy.close();
    });
  });
}
