import { existsSync } from 'node:fs';
import { portBlock } from './support/local-cluster';
import { PgNode, pgClusterRoot, postgresPackagesMissing, startPrimaryStandbys, stopPgCluster } from './support/pg-cluster';

/**
 * The harness the PostgreSQL failover tests stand on (test/support/pg-cluster.ts), checked with
 * psql: a primary, a synchronous and an asynchronous standby on their own ports; what each
 * promotion keeps; every server gone and the data dirs removed at the end.
 */
const missing = postgresPackagesMissing();

if (missing) {
  it(`PostgreSQL cluster tests did not run: ${missing}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe('PostgreSQL primary with a synchronous and an asynchronous standby', () => {
    let root: string | undefined;
    let primary: PgNode;
    let sync: PgNode;
    let async: PgNode;

    beforeAll(async () => {
      const ports = await portBlock(35400, 35449, 3);
      root = pgClusterRoot('harness');
      ({ primary, standbys: [sync, async] } = await startPrimaryStandbys(root, ports, ['sync', 'async']));
      await primary.sql('CREATE TABLE t (id bigint PRIMARY KEY, note text)', 'idha');
    }, 240_000);

    afterAll(async () => {
      await stopPgCluster([primary, sync, async].filter(Boolean), root);
    }, 60_000);

    it('one synchronous and one asynchronous standby stream from the primary; both read a commit once replayed', async () => {
      expect(await primary.inRecovery()).toBe(false);
      expect(await sync.inRecovery()).toBe(true);
      expect((await primary.replicationOf(sync))?.syncState).toBe('sync');
      expect((await primary.replicationOf(async))?.syncState).toBe('async');

      expect(await primary.value('SHOW synchronous_commit')).toBe('on');
      expect(await sync.value('SHOW synchronous_standby_names')).toBe(''); // a promoted standby waits for no one
      await primary.sql(`INSERT INTO t VALUES (1, 'before')`, 'idha');
      await primary.waitReplayed(sync);
      await primary.waitReplayed(async);
      expect(await sync.value('SELECT note FROM t WHERE id = 1', 'idha')).toBe('before');
      expect(await async.value('SELECT note FROM t WHERE id = 1', 'idha')).toBe('before');
      await expect(sync.sql(`INSERT INTO t VALUES (9, 'on a standby')`, 'idha')).rejects.toThrow(/read-only transaction/);
    });

    it('an async standby that stopped receiving misses later commits; promoted, it lacks them and takes writes', async () => {
      await async.stopReceiving();
      await primary.sql(`INSERT INTO t VALUES (2, 'after the async standby stopped receiving')`, 'idha');
      await primary.waitReplayed(sync);
      expect(await sync.value('SELECT count(*) FROM t', 'idha')).toBe('2');

      await async.promote();
      expect(await async.inRecovery()).toBe(false);
      expect(await async.value('SELECT count(*) FROM t', 'idha')).toBe('1');
      await async.sql(`INSERT INTO t VALUES (3, 'on the promoted async standby')`, 'idha');
      expect(await async.value('SELECT note FROM t WHERE id = 3', 'idha')).toBe('on the promoted async standby');
    });

    it('the sync standby promoted after an immediate stop of the primary holds every commit and takes writes', async () => {
      await primary.sql(`INSERT INTO t VALUES (4, 'last on the old primary')`, 'idha');
      const pid = primary.pid!;
      await primary.stop('immediate');
      expect(primary.running).toBe(false);
      expect(() => process.kill(pid, 0)).toThrow();

      await sync.promote();
      await sync.waitRecovery(false);
      expect((await sync.sql('SELECT id FROM t ORDER BY id', 'idha')).map((r) => r[0])).toEqual(['1', '2', '4']);
      await sync.sql(`INSERT INTO t VALUES (5, 'on the promoted sync standby')`, 'idha');
      expect(await sync.value('SELECT count(*) FROM t', 'idha')).toBe('4');
    });

    it('stopping the cluster ends every server by pid and removes the data dirs', async () => {
      const pids = [primary, sync, async].map((n) => n.pid!);
      await stopPgCluster([primary, sync, async], root);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
      expect(existsSync(root!)).toBe(false);
    });
  });
}
