import { request } from './support/app';
import { freshDatabase, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { ServerProcess, sleep } from './support/process';
import { TcpProxy } from './support/tcp-proxy';
import { snowflakeScenarios } from './snowflake-scenarios';
import { Db, expectUnique, mysqlDb, startReady, ts, waitReady } from './snowflake-support';

if (!mysqlAvailable()) {
  it(`MariaDB snowflake tests did not run: ${mysqlUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy(); // on CI global-setup already failed the run
  });
} else {
  describe('snowflake on MariaDB, real processes on one database', () => {
    let fresh: Awaited<ReturnType<typeof freshDatabase>>;
    let db: Db;
    beforeAll(async () => {
      fresh = await freshDatabase('snowflake');
      db = mysqlDb(fresh.url, fresh.name);
    });
    afterAll(async () => {
      await fresh?.drop();
    });

    snowflakeScenarios(() => db);

    it('the database cut (refused, then black-holed) through a TCP proxy: issuing stops with 503 WORKER_LEASE_LOST before the reservation runs out, and resumes after', async () => {
      const proxy = await TcpProxy.start(MYSQL_HOST, MYSQL_PORT);
      let server: ServerProcess | undefined;
      try {
        server = await startReady({
          DATABASE_URL: `mysql://${MYSQL_USER}@127.0.0.1:${proxy.port}/${fresh.name}`,
          SNOWFLAKE_LEASE_MS: '2000',
          SNOWFLAKE_RENEW_MS: '500',
          SNOWFLAKE_RESERVE_MS: '2000',
          SNOWFLAKE_WORKER_IDS: '50',
        });
        const all: string[] = [];
        for (const mode of ['cut', 'blackhole'] as const) {
          all.push(...(await request(`${server.url}/ids/snowflake?count=1000`)).body.ids);
          await proxy.set(mode);
          const cutAt = Date.now();
          // keep asking (bounded) until refused; every id issued meanwhile is kept
          let firstRefusal: { at: number; body: any } | undefined;
          for (let i = 0; i < 400 && !firstRefusal; i++) {
            const res = await request(`${server.url}/ids/snowflake?count=100`);
            if (res.status === 200) all.push(...res.body.ids);
            else firstRefusal = { at: Date.now(), body: res.body };
            await sleep(10);
          }
          expect(firstRefusal).toBeDefined();
          expect(firstRefusal!.body.code).toBe('WORKER_LEASE_LOST');
          expect(firstRefusal!.body.message).toMatch(/lease not renewed since \d+ ms/);
          expect(firstRefusal!.at - cutAt).toBeLessThan(2500);
          expect((await request(`${server.url}/health/ready`)).status).toBe(503);
          // the reservation as committed, read past the proxy: every id issued is within it, and
          // the refusals began before it ran out
          const reserved = (await db.row(50))!.reserved_until;
          expect(firstRefusal!.at).toBeLessThan(reserved);
          for (const id of all) expect(ts(id)).toBeLessThanOrEqual(reserved);
          // still refused a moment later, never a 200 with a fake id
          const later = await request(`${server.url}/ids/snowflake?count=5`);
          expect(later.status).toBe(503);
          await proxy.set('pass');
          await waitReady(server, 20_000);
          const resumed = await request(`${server.url}/ids/snowflake?count=1000`);
          expect(resumed.status).toBe(200);
          all.push(...resumed.body.ids);
        }
        expectUnique(all);
      } finally {
        await server?.kill('SIGKILL');
        await proxy.close();
      }
    }, 90_000);
  });
}
