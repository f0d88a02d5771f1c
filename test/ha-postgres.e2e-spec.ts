import { PgPool } from '@app/database';
import { portBlock } from './support/local-cluster';
import { PgNode, pgAppUrl, pgClusterRoot, postgresPackagesMissing, startPrimaryStandbys, stopPgCluster } from './support/pg-cluster';

/**
 * Issue 29: PostgreSQL failover with real servers (test/support/pg-cluster.ts) and real service
 * processes on `postgres://...@primary,standby/db`, the twins of the MariaDB HA suites.
 * - PgPool itself on a primary and a standby: a standby (in recovery) is not usable; promoted,
 *   it is.
 */
const missing = postgresPackagesMissing();

if (missing) {
  it(`PostgreSQL failover tests did not run: ${missing}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe('PgPool on a real primary and standby: a standby is not usable; after the promotion it is', () => {
    let root: string | undefined;
    let nodes: PgNode[] = [];
    let ports: number[] = [];
    const pools: PgPool[] = [];
    const pool = (order: number[]) => {
      const p = new PgPool(pgAppUrl(order), { timeoutMs: 1000 });
      pools.push(p);
      return p;
    };

    beforeAll(async () => {
      ports = await portBlock(35450, 35499, 2);
      root = pgClusterRoot('pool');
      const { primary, standbys } = await startPrimaryStandbys(root, ports, ['sync']);
      nodes = [primary, ...standbys];
      await primary.sql(`CREATE TABLE t (id int PRIMARY KEY, n bigint NOT NULL)`, 'idha');
      await primary.sql(`ALTER TABLE t OWNER TO ids`, 'idha');
      await primary.sql(`INSERT INTO t VALUES (1, 0)`, 'idha');
    }, 240_000);

    afterAll(async () => {
      await Promise.all(pools.map((p) => p.end()));
      await stopPgCluster(nodes, root);
    }, 60_000);

    it('the standby listed first is passed over for the primary', async () => {
      const [primaryPort, standbyPort] = ports;
      const p = pool([standbyPort, primaryPort]);
      expect(await p.query('UPDATE t SET n = n + 1 WHERE id = 1 RETURNING n')).toEqual([{ n: '1' }]);
      expect(p.status().inUse).toBe('2 of 2');
    });

    it('the primary stopped: refused while the standby is in recovery, then on it once promoted, with every acknowledged write', async () => {
      const [primary, standby] = nodes;
      const p = pool(ports);
      expect(await p.query('UPDATE t SET n = n + 1 WHERE id = 1 RETURNING n')).toEqual([{ n: '2' }]);
      expect(p.status().inUse).toBe('1 of 2');
      await primary.stop('immediate');
      await expect(p.query('UPDATE t SET n = n + 1 WHERE id = 1 RETURNING n')).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
      await standby.promote();
      expect(await p.query('UPDATE t SET n = n + 1 WHERE id = 1 RETURNING n')).toEqual([{ n: '3' }]); // both writes kept (synchronous)
      expect(p.status().inUse).toBe('2 of 2');
    });
  });
}
