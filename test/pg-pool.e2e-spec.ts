import { classifyPgError, PgPool, toPgPlaceholders } from '@app/database';
import { freshPgDatabase, PG_HOST, PG_PORT, PG_USER, pgAvailable, pgUnavailableReason } from './support/postgres';
import { startApp } from './support/app';
import { testConfig } from './support/config';
import { freePort } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

/**
 * What PgPool adds to the shared host rule and retries (those: sql-pool.e2e-spec): placeholders,
 * exact int8/numeric, deadlines and the SQLSTATE classes, against the real server behind TCP
 * proxies. A standby (pg_is_in_recovery) is the failover suites' part: they start real clusters.
 */
describe('toPgPlaceholders', () => {
  it('numbers ? outside literals, quoted names and comments', () => {
    expect(toPgPlaceholders(`SELECT '?', "a?b", ? -- what?\n, ?`)).toBe(`SELECT '?', "a?b", $1 -- what?\n, $2`);
    expect(toPgPlaceholders(`UPDATE t SET a = 'it''s ?' WHERE b = ? AND c IN (?, ?)`)).toBe(`UPDATE t SET a = 'it''s ?' WHERE b = $1 AND c IN ($2, $3)`);
  });
});

if (!pgAvailable()) {
  it(`PgPool tests did not run: ${pgUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe('PgPool: several hosts in one URL', () => {
    let db: Awaited<ReturnType<typeof freshPgDatabase>>;
    const proxies: TcpProxy[] = [];
    const pools: PgPool[] = [];
    const url = (ports: number[]) => `postgres://${PG_USER}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${db.name}`;
    const pool = (ports: number[], timeoutMs = 1000) => {
      const p = new PgPool(url(ports), { timeoutMs });
      pools.push(p);
      return p;
    };
    beforeAll(async () => {
      db = await freshPgDatabase('pgpool');
      for (let i = 0; i < 2; i++) proxies.push(await TcpProxy.start(PG_HOST, PG_PORT));
      const setup = pool([PG_PORT]);
      await setup.query('CREATE TABLE t (id INT PRIMARY KEY, n BIGINT NOT NULL, d NUMERIC(30) NOT NULL DEFAULT 0)');
      await setup.query('INSERT INTO t VALUES (1, 0)');
    });
    afterAll(async () => {
      await Promise.all(pools.map((p) => p.end()));
      await Promise.all(proxies.map((p) => p.close()));
      await db?.drop();
    });

    it('answers rows for SELECT and RETURNING, { affectedRows } otherwise; int8 and numeric exact as strings, BigInt bound exactly', async () => {
      const p = pool([PG_PORT]);
      const big = 2n ** 62n + 1n;
      expect(await p.query('UPDATE t SET n = ?, d = ? WHERE id = ?', [big, 10n ** 25n + 1n, 1])).toEqual({ affectedRows: 1 });
      expect(await p.query('UPDATE t SET n = n + ? WHERE id = ? RETURNING n, d', [1n, 1])).toEqual([
        { n: (big + 1n).toString(), d: (10n ** 25n + 1n).toString() },
      ]);
      expect(await p.query('SELECT n FROM t WHERE id = ? AND n > ?', [1, big])).toEqual([{ n: (big + 1n).toString() }]);
      expect(await p.query('UPDATE t SET n = 0 WHERE id = ?', [99])).toEqual({ affectedRows: 0 });
      await p.query('UPDATE t SET n = 0, d = 0 WHERE id = 1');
    });

    it('a refused only host: DATABASE_UNAVAILABLE, the driver text kept in the cause', async () => {
      const p = pool([await freePort()]);
      await expect(p.query('SELECT 1')).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    });

    it('a silent host (answers nothing): the statement fails within its deadline and the pool moves on', async () => {
      const [a, b] = proxies;
      await a.set('pass');
      await b.set('pass');
      const p = pool([a.port, b.port], 500);
      await p.query('SELECT 1');
      await a.set('blackhole');
      const started = Date.now();
      expect(await p.query('SELECT 3 AS three')).toEqual([{ three: 3 }]);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(p.status()).toMatchObject({ inUse: '2 of 2', lastMove: expect.stringMatching(/no answer from PostgreSQL|connection lost/) });
      await a.set('pass');
    });

    it('statement_timeout: a statement running past it is cancelled by the server (57014) and counts as a lost connection', async () => {
      const p = pool([PG_PORT], 300);
      await expect(p.query('UPDATE t SET n = n WHERE id = 1 AND pg_sleep(2) IS NOT NULL')).rejects.toMatchObject({
        code: 'DATABASE_UNAVAILABLE',
        message: expect.stringMatching(/outcome unknown/),
      });
      expect(classifyPgError({ code: '57014' })).toBe('connection lost');
    });

    it('a read-only session refuses writes with 25006: classified "not writable"; a serialization failure and a deadlock "rolled back"', async () => {
      const p = pool([PG_PORT]);
      const refused = await p
        .transaction(async (query) => {
          await query('SET TRANSACTION READ ONLY');
          await query('UPDATE t SET n = 1 WHERE id = 1');
        })
        .catch((e) => e);
      expect(refused.code).toBe('25006');
      expect(classifyPgError(refused)).toBe('not writable');
      expect(classifyPgError({ code: '40001' })).toBe('rolled back');
      expect(classifyPgError({ code: '40P01' })).toBe('rolled back');
      expect(classifyPgError({ code: '57P01' })).toBe('connection lost');
      expect(classifyPgError({ code: '08006' })).toBe('connection lost');
      expect(classifyPgError(new Error('Connection terminated unexpectedly'))).toBe('connection lost');
      expect(classifyPgError({ code: '42P01' })).toBe('statement');
    });
  });

  describe('the service on a two-host PostgreSQL URL whose first host refuses', () => {
    it('serves every strategy from host 2; readiness names "2 of 2", /admin/info the hosts and why it moved', async () => {
      const db = await freshPgDatabase('pgtwohosts');
      const token = 'pg-two-hosts-admin-token';
      const app = await startApp(
        testConfig({ DATABASE_URL: `postgres://${PG_USER}@127.0.0.1:${await freePort()},${PG_HOST}:${PG_PORT}/${db.name}`, ADMIN_TOKEN: token }),
      );
      try {
        for (const strategy of ['segment', 'partition', 'ticket', 'snowflake']) {
          const res = await app.get(`/ids/${strategy}?count=3`);
          expect(res.status).toBe(200);
          expect(res.body.ids).toHaveLength(3);
        }
        const ready = await app.get('/health/ready');
        expect(ready.status).toBe(200);
        expect(ready.body.info.database).toEqual({ status: 'up', host: '2 of 2' });
        const info = await app.get('/admin/info', { headers: { authorization: `Bearer ${token}` } });
        expect(info.body.settings.DB_TYPE).toBe('postgres');
        expect(info.body.database).toMatchObject({ inUse: '2 of 2', active: 1, hosts: [expect.stringMatching(/^127\.0\.0\.1:\d+$/), `${PG_HOST}:${PG_PORT}`] });
      } finally {
        await app.close();
        await db.drop();
      }
    });
  });
}
