import { MysqlPool, PgPool, SqlPool, SqlPoolOptions } from '@app/database';
import { freshDatabase, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { freshPgDatabase, PG_HOST, PG_PORT, PG_USER, pgAvailable, pgUnavailableReason } from './support/postgres';
import { freePort, sleep } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

/**
 * The pools' host rule and retries (FailoverPool, shared by MysqlPool and PgPool) against the real
 * servers, each "host" a TCP proxy in front of one that the test can cut (the cluster tests do
 * the same with real nodes). PostgreSQL's own checks: pg-pool.e2e-spec.
 */
interface Server {
  name: string;
  scheme: string;
  user: string;
  host: string;
  port: number;
  fresh: (tag: string) => Promise<{ name: string; drop: () => Promise<void> }>;
  open: (url: string, options: SqlPoolOptions) => SqlPool;
  /** a write that takes half a second, so a cut lands while it runs */
  slowWrite: string;
  duplicateCode: string;
}

const servers: Server[] = [];
if (mysqlAvailable()) {
  servers.push({
    name: 'MysqlPool',
    scheme: 'mysql',
    user: MYSQL_USER,
    host: MYSQL_HOST,
    port: MYSQL_PORT,
    fresh: freshDatabase,
    open: (url, options) => new MysqlPool(url, options),
    slowWrite: 'UPDATE t SET n = n + 1 WHERE id = 1 AND SLEEP(0.5) = 0',
    duplicateCode: 'ER_DUP_ENTRY',
  });
} else {
  it(`MysqlPool tests did not run: ${mysqlUnavailableReason()}`, () => expect(process.env.CI).toBeFalsy());
}
if (pgAvailable()) {
  servers.push({
    name: 'PgPool',
    scheme: 'postgres',
    user: PG_USER,
    host: PG_HOST,
    port: PG_PORT,
    fresh: freshPgDatabase,
    open: (url, options) => new PgPool(url, options),
    slowWrite: 'UPDATE t SET n = n + 1 WHERE id = 1 AND pg_sleep(0.5) IS NOT NULL',
    duplicateCode: '23505',
  });
} else {
  it(`PgPool tests did not run: ${pgUnavailableReason()}`, () => expect(process.env.CI).toBeFalsy());
}

describe.each(servers)('$name: several hosts in one URL', (server) => {
  let db: { name: string; drop: () => Promise<void> };
  const proxies: TcpProxy[] = [];
  const pools: SqlPool[] = [];
  const url = (ports: number[]) => `${server.scheme}://${server.user}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${db.name}`;
  const pool = (ports: number[]) => {
    const p = server.open(url(ports), { timeoutMs: 1000 });
    pools.push(p);
    return p;
  };
  beforeAll(async () => {
    db = await server.fresh('pool');
    for (let i = 0; i < 2; i++) proxies.push(await TcpProxy.start(server.host, server.port));
    const setup = pool([server.port]);
    await setup.query('CREATE TABLE t (id INT PRIMARY KEY, n BIGINT NOT NULL)');
    await setup.query('INSERT INTO t VALUES (1, 0)');
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await Promise.all(proxies.map((p) => p.close()));
    await db?.drop();
  });

  it('uses the first usable host: a refused first host is skipped, and readiness-safe status says "2 of 2"', async () => {
    const p = pool([await freePort(), proxies[0].port]);
    expect(await p.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(p.status()).toMatchObject({ inUse: '2 of 2', active: 1, lastMove: expect.stringMatching(/no connection/) });
  });

  it('moves on when the host in use is lost, and never moves back while the new one is usable', async () => {
    const [a, b] = proxies;
    const p = pool([a.port, b.port]);
    await p.query('SELECT 1');
    expect(p.status().inUse).toBe('1 of 2');
    await a.set('cut');
    expect(await p.query('SELECT 2 AS two')).toEqual([{ two: 2 }]); // a read: retried on host 2
    expect(p.status().inUse).toBe('2 of 2');
    await a.set('pass'); // the old host answers again: no reason to go back
    for (let i = 0; i < 5; i++) await p.query('SELECT 1');
    expect(p.status().inUse).toBe('2 of 2');
  });

  it('a write whose connection breaks after it was sent: an admin write answers "outcome unknown"; a fetch-like write is sent again', async () => {
    const [a, b] = proxies;
    for (const retryUnknown of [false, true]) {
      await a.set('pass');
      await b.set('pass');
      const p = pool([a.port, b.port]);
      await p.query('SELECT 1'); // on host 1
      const write = p.query(server.slowWrite, [], { retryUnknown });
      await sleep(150);
      await a.set('cut');
      if (retryUnknown) {
        await expect(write).resolves.toMatchObject({ affectedRows: 1 });
        expect(p.status().inUse).toBe('2 of 2');
      } else {
        await expect(write).rejects.toMatchObject({
          code: 'DATABASE_UNAVAILABLE',
          message: expect.stringMatching(/outcome unknown; check GET \/admin\/segments/),
        });
      }
    }
  });

  it('a transaction the server rolls back (a deadlock; on Galera a certification conflict) runs again and commits once', async () => {
    // above PostgreSQL's deadlock_timeout (1 s): the wait that closes the cycle is judged, not cut
    const p = server.open(url([server.port]), { timeoutMs: 3000 });
    const other = server.open(url([server.port]), { timeoutMs: 3000 });
    pools.push(p, other);
    await p.query('CREATE TABLE dl (id INT PRIMARY KEY, n BIGINT NOT NULL)');
    await p.query(`INSERT INTO dl VALUES ${Array.from({ length: 40 }, (_, i) => `(${i + 1}, 0)`).join(', ')}`);
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    let closeCycle!: () => void;
    const cycle = new Promise<void>((r) => (closeCycle = r));
    // the other transaction is the heavier (MariaDB rolls back the lighter) and waits second
    // (PostgreSQL rolls back the one that waited first): ours is the one rolled back
    const theirs = other.transaction(async (query) => {
      await query('UPDATE dl SET n = n + 1 WHERE id >= 3');
      await query('UPDATE dl SET n = n + 1 WHERE id = 1');
      holding();
      await cycle;
      await query('UPDATE dl SET n = n + 1 WHERE id = 2');
    });
    await held;
    let runs = 0;
    await p.transaction(async (query) => {
      runs++;
      await query('UPDATE dl SET n = n + 10 WHERE id = 2');
      if (runs === 1) setTimeout(closeCycle, 200);
      await query('UPDATE dl SET n = n + 10 WHERE id = 1');
    });
    await theirs;
    expect(runs).toBe(2);
    // each transaction's changes once
    expect(await p.query('SELECT id, n FROM dl WHERE id <= 3 ORDER BY id')).toEqual([
      { id: 1, n: '11' },
      { id: 2, n: '11' },
      { id: 3, n: '1' },
    ]);
  });

  it('several statements on one connection: transaction() commits together or rolls back', async () => {
    const p = pool([proxies[1].port]);
    await p.query('UPDATE t SET n = 0 WHERE id = 1');
    await p.transaction(async (query) => {
      await query('UPDATE t SET n = 100 WHERE id = 1');
      await query('INSERT INTO t VALUES (2, 0)');
    });
    await expect(
      p.transaction(async (query) => {
        await query('UPDATE t SET n = 200 WHERE id = 1');
        await query('INSERT INTO t VALUES (2, 0)'); // duplicate: the whole transaction rolls back
      }),
    ).rejects.toMatchObject({ code: server.duplicateCode });
    // BIGINT as exact decimal text on both
    expect(await p.query('SELECT id, n FROM t ORDER BY id')).toEqual([
      { id: 1, n: '100' },
      { id: 2, n: '0' },
    ]);
  });
});
