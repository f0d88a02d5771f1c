import { dataSourceOptions, MysqlPool, newDataSource, PgPool, runMigrations, toPgPlaceholders } from '@app/database';
import { MysqlWorkerLeaseStore, PgWorkerLeaseStore, SqliteWorkerLeaseStore, WorkerLeaseStore } from '@app/snowflake';
import { DataSource } from 'typeorm';
import { testConfig } from './support/config';
import { freshDatabase, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { freshPgDatabase, pgAvailable, pgUnavailableReason } from './support/postgres';
import { TcpProxy } from './support/tcp-proxy';

/**
 * The worker_node statements themselves, against the real databases (the lease logic above them
 * is unit-tested with a fake store; here is what lives in SQL).
 */
type Dialect = {
  name: string;
  open: () => Promise<{ dataSource: DataSource; store: WorkerLeaseStore; drop: () => Promise<void> }>;
  /** moves a row's heartbeat back by ms on the database's own clock */
  age: (ds: DataSource, workerId: number, ms: number) => Promise<void>;
  /** a raw statement with ? placeholders (TypeORM's PostgreSQL driver takes $1, $2, ...) */
  raw?: (ds: DataSource, sql: string, values?: unknown[]) => Promise<unknown>;
};

const claimant = (n: number) => ({ instanceId: `inst-${n}`, host: `host-${n}`, pid: 1000 + n });
const LEASE = 3000;
/** the lease passes 2 x SNOWFLAKE_RENEW_MS */
const SLACK = 2000;

const dialects: Dialect[] = [
  {
    name: 'SQLite',
    open: async () => {
      const dataSource = await newDataSource(dataSourceOptions(testConfig())).initialize();
      await runMigrations(dataSource);
      return { dataSource, store: new SqliteWorkerLeaseStore(dataSource), drop: () => dataSource.destroy() };
    },
    age: async (ds, id, ms) => void (await ds.query('UPDATE worker_node SET heartbeat = heartbeat - ? WHERE worker_id = ?', [ms, id])),
  },
];
if (mysqlAvailable()) {
  dialects.push({
    name: 'MariaDB',
    open: async () => {
      const db = await freshDatabase('sf_store');
      const dataSource = await newDataSource(dataSourceOptions(testConfig({ DATABASE_URL: db.url }))).initialize();
      await runMigrations(dataSource);
      const pool = new MysqlPool(db.url, { connectionLimit: 1 });
      return {
        dataSource,
        store: new MysqlWorkerLeaseStore(pool),
        drop: async () => {
          await pool.end();
          await dataSource.destroy();
          await db.drop();
        },
      };
    },
    age: async (ds, id, ms) =>
      void (await ds.query('UPDATE worker_node SET heartbeat = heartbeat - INTERVAL ? MICROSECOND WHERE worker_id = ?', [ms * 1000, id])),
  });
} else {
  it(`MariaDB worker_node tests did not run: ${mysqlUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
}
if (pgAvailable()) {
  dialects.push({
    name: 'PostgreSQL',
    open: async () => {
      const db = await freshPgDatabase('sf_store');
      const dataSource = await newDataSource(dataSourceOptions(testConfig({ DATABASE_URL: db.url }))).initialize();
      await runMigrations(dataSource);
      const pool = new PgPool(db.url, { connectionLimit: 1 });
      return {
        dataSource,
        store: new PgWorkerLeaseStore(pool),
        drop: async () => {
          await pool.end();
          await dataSource.destroy();
          await db.drop();
        },
      };
    },
    age: async (ds, id, ms) =>
      void (await ds.query("UPDATE worker_node SET heartbeat = heartbeat - $1 * interval '1 millisecond' WHERE worker_id = $2", [ms, id])),
    raw: (ds, sql, values) => ds.query(toPgPlaceholders(sql), values),
  });
} else {
  it(`PostgreSQL worker_node tests did not run: ${pgUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
}

describe.each(dialects)('worker_node store on $name', (d) => {
  let dataSource: DataSource;
  let store: WorkerLeaseStore;
  let drop: () => Promise<void>;
  const raw = (sql: string, values?: unknown[]) => (d.raw ? d.raw(dataSource, sql, values) : dataSource.query(sql, values));
  beforeAll(async () => {
    ({ dataSource, store, drop } = await d.open());
  });
  afterAll(() => drop?.());

  it('seeds missing rows only, keeping existing ones', async () => {
    await store.seed(0, 9);
    expect(await store.countRows(0, 9)).toBe(10);
    expect(await store.renew(3, 'nobody', 5)).toBe(false);
    await store.seed(0, 1100); // existing rows stay; more than one insert chunk
    expect(await store.countRows(0, 1100)).toBe(1101);
  });

  it('acquire: distinct ids, those whose reservation has passed first (at random), else the soonest to end; reservation untouched', async () => {
    const now = Date.now();
    await raw('UPDATE worker_node SET reserved_until = ? WHERE worker_id = 0', [now + 60_000]);
    await raw('UPDATE worker_node SET reserved_until = ? WHERE worker_id = 2', [now - 1000]);
    const passed = [];
    for (const n of [1, 2, 3]) passed.push(await store.acquire(0, 3, claimant(n), now, LEASE));
    expect(passed.map((a) => a!.workerId).sort()).toEqual([1, 2, 3]);
    expect(passed.find((a) => a!.workerId === 2)).toEqual({ workerId: 2, reservedUntil: now - 1000, takenOver: false });
    expect(passed.find((a) => a!.workerId === 1)).toEqual({ workerId: 1, reservedUntil: 0, takenOver: false });
    const e = await store.acquire(0, 3, claimant(4), now, LEASE); // only 0 is left: reserved ahead
    expect(e).toEqual({ workerId: 0, reservedUntil: now + 60_000, takenOver: false });
    expect(await store.acquire(0, 3, claimant(5), now, LEASE)).toBeNull(); // all held
    // free rows are picked at random, not lowest first: ten from a hundred never-held rows are
    // not the ten lowest (odds of that by chance: 1 in 17 trillion)
    const ten = [];
    for (let n = 0; n < 10; n++) ten.push((await store.acquire(900, 999, claimant(10 + n), now, LEASE))!.workerId);
    expect(new Set(ten).size).toBe(10);
    expect(ten.sort((x, y) => x - y)).not.toEqual([900, 901, 902, 903, 904, 905, 906, 907, 908, 909]);
  });

  it('a lease is free once its heartbeat is older than the lease by the database clock, whatever the instance clock says', async () => {
    // inst-1 holds 1; an instance whose own clock is an hour ahead still cannot take it
    expect(await store.acquire(1, 1, claimant(9), Date.now() + 3_600_000, LEASE)).toBeNull();
    await d.age(dataSource, 1, LEASE - 500);
    expect(await store.acquire(1, 1, claimant(9), Date.now(), LEASE)).toBeNull();
    await d.age(dataSource, 1, 1000);
    expect(await store.acquire(1, 1, claimant(9), Date.now(), LEASE)).toEqual({ workerId: 1, reservedUntil: 0, takenOver: true });
    // the old holder's renewal is a compare-and-set on the instance id: refused
    expect(await store.renew(1, 'inst-1', Date.now() + LEASE)).toBe(false);
  });

  it('renew raises reserved_until and never lowers it; release frees the id and keeps it', async () => {
    const t = Date.now();
    expect(await store.renew(1, 'inst-9', t + 5000)).toBe(true);
    expect(await store.renew(1, 'inst-9', t + 1000)).toBe(true); // a late, lower proposal
    const held = await store.inspect(1);
    expect(held).toMatchObject({ workerId: 1, instanceId: 'inst-9', host: 'host-9', pid: 1009, reservedUntil: t + 5000 });
    expect(held!.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
    expect(held!.heartbeatAgeMs).toBeLessThan(1000);
    await store.release(1, 'inst-other', t); // not ours: nothing happens
    expect((await store.inspect(1))!.instanceId).toBe('inst-9');
    await store.release(1, 'inst-9', t + 700); // what it issued, below what it had reserved
    expect(await store.inspect(1)).toMatchObject({ instanceId: null, reservedUntil: t + 700 });
    // the next holder finds the reservation, and a clean release is no takeover
    expect(await store.acquire(1, 1, claimant(10), t, LEASE)).toEqual({ workerId: 1, reservedUntil: t + 700, takenOver: false });
  });

  it('claim of a static id: only when free or already ours', async () => {
    await store.seed(500, 500);
    expect(await store.claim(500, claimant(11), LEASE)).toEqual({ workerId: 500, reservedUntil: 0, takenOver: false });
    expect(await store.claim(500, claimant(11), LEASE)).toEqual({ workerId: 500, reservedUntil: 0, takenOver: false }); // a repeat
    expect(await store.claim(500, claimant(12), LEASE)).toBeNull();
    await d.age(dataSource, 500, LEASE + 1);
    expect(await store.claim(500, claimant(12), LEASE)).toEqual({ workerId: 500, reservedUntil: 0, takenOver: true });
  });

  it('acquire prefers never-held and cleanly released ids over lapsed ones', async () => {
    await store.seed(700, 702);
    expect(await store.claim(700, claimant(20), LEASE)).not.toBeNull();
    await d.age(dataSource, 700, LEASE + 1); // 700 lapsed, 701 and 702 never held
    await raw('UPDATE worker_node SET reserved_until = ? WHERE worker_id = 701', [Date.now() + 60_000]);
    const now = Date.now();
    expect(await store.acquire(700, 702, claimant(21), now, LEASE)).toMatchObject({ workerId: 702, takenOver: false });
    expect(await store.acquire(700, 702, claimant(22), now, LEASE)).toMatchObject({ workerId: 701, takenOver: false });
    expect(await store.acquire(700, 702, claimant(23), now, LEASE)).toMatchObject({ workerId: 700, takenOver: true });
  });

  it('30 acquisitions at once take 30 distinct ids', async () => {
    await store.seed(600, 639);
    const got = await Promise.all(Array.from({ length: 30 }, (_, i) => store.acquire(600, 639, claimant(100 + i), Date.now(), LEASE)));
    const ids = got.map((g) => g?.workerId);
    expect(ids.every((x) => x !== undefined)).toBe(true);
    expect(new Set(ids).size).toBe(30);
  });

  it('writerSince (MySQL, PostgreSQL): the server taking lease writes is recorded once; another recorded before it means it moved', async () => {
    if (store.writerSince === undefined) {
      expect(d.name).toBe('SQLite'); // an embedded file cannot fail over
      return;
    }
    // no acquisition older than the record (a first start): judged on the records alone
    await raw('UPDATE worker_node SET acquired_at = NULL');
    const first = await store.writerSince(SLACK);
    expect(first.moved).toBe(false);
    expect(first.dbNowMs - first.sinceMs).toBeGreaterThanOrEqual(0);
    const again = await store.writerSince(SLACK);
    expect(again.sinceMs).toBe(first.sinceMs);
    // the record an old primary left, replicated to this server before a failover
    await raw("DELETE FROM id_meta WHERE name LIKE 'lease writer %'");
    await raw("INSERT INTO id_meta (name, value) VALUES ('lease writer 99 old-primary:3306', '1000')");
    const moved = await store.writerSince(SLACK);
    expect(moved.moved).toBe(true);
    expect(moved.dbNowMs - moved.sinceMs).toBeLessThan(60_000);
    // a failback: this server's record is older than another's (recorded while that one took the
    // writes): the move back is now, and this server's record is written again
    await raw("UPDATE id_meta SET value = '2000' WHERE name LIKE 'lease writer %' AND name <> 'lease writer 99 old-primary:3306'");
    await raw("UPDATE id_meta SET value = '3000' WHERE name = 'lease writer 99 old-primary:3306'");
    const back = await store.writerSince(SLACK);
    expect(back.moved).toBe(true);
    expect(back.dbNowMs - back.sinceMs).toBeLessThan(60_000);
    const kept = await store.writerSince(SLACK);
    expect(kept.sinceMs).toBe(back.sinceMs); // recorded: the next reading keeps it
    // every record lost, but worker_node holds an acquisition from an hour before: the server
    // that took it recorded itself on a copy that lost the record; a move, now, for everyone after
    await raw("DELETE FROM id_meta WHERE name LIKE 'lease writer %'");
    await store.seed(800, 800);
    expect(await store.acquire(800, 800, claimant(30), Date.now(), LEASE)).not.toBeNull();
    await d.age(dataSource, 800, 3_600_000);
    await raw('UPDATE worker_node SET acquired_at = heartbeat WHERE worker_id = 800');
    const lost = await store.writerSince(SLACK);
    expect(lost.moved).toBe(true);
    expect(lost.dbNowMs - lost.sinceMs).toBeLessThan(60_000);
    const later = await store.writerSince(SLACK);
    expect(later.moved).toBe(true);
    expect(later.sinceMs).toBe(lost.sinceMs);
  });
});

if (mysqlAvailable()) {
  describe('worker_node store on MariaDB behind a black hole', () => {
    it('a renewal fails within its timeout instead of hanging', async () => {
      const db = await freshDatabase('sf_hole');
      const proxy = await TcpProxy.start(MYSQL_HOST, MYSQL_PORT);
      const dataSource = await newDataSource(
        dataSourceOptions(testConfig({ DATABASE_URL: `mysql://${MYSQL_USER}@127.0.0.1:${proxy.port}/${db.name}` })),
      ).initialize();
      const pool = new MysqlPool(`mysql://${MYSQL_USER}@127.0.0.1:${proxy.port}/${db.name}`, { timeoutMs: 500, connectionLimit: 1 });
      try {
        await runMigrations(dataSource);
        const store = new MysqlWorkerLeaseStore(pool);
        await store.seed(0, 0);
        expect(await store.claim(0, claimant(1), LEASE)).not.toBeNull();
        await proxy.set('blackhole');
        // the first finds its pooled connection dropped; the next opens one into the black hole
        for (let i = 0; i < 3; i++) {
          const started = Date.now();
          await expect(store.renew(0, 'inst-1', Date.now() + LEASE)).rejects.toThrow();
          expect(Date.now() - started).toBeLessThan(3000);
        }
      } finally {
        await pool.end();
        await proxy.close();
        await dataSource.destroy().catch(() => undefined);
        await db.drop();
      }
    });
  });
}
