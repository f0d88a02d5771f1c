import { request } from './support/app';
import { duplicates } from './support/load';
import { ServerProcess, sleep } from './support/process';
import { portBlock } from './support/local-cluster';
import { appUrl, clusterPackagesMissing, clusterRoot, MariaNode, promote, startPrimaryReplica, teardown } from './support/mariadb-cluster';
import { HaLoad, twoInstancesWithKey } from './ha-load';

/**
 * Issue 12: a primary and a replica with MariaDB's built-in semi-synchronous replication
 * (AFTER_SYNC, a timeout that never falls back); under load the primary is SIGKILLed and the
 * replica promoted as an orchestrator must (wait for the applier). Nothing acknowledged is
 * lost, so no key halts and no id repeats.
 */
const ADMIN_TOKEN = 'ha-semisync-admin-token';
const SEGMENT = '/ids/segment?key=semi&count=50';
const SNOWFLAKE = '/ids/snowflake?count=50';
const missing = clusterPackagesMissing();

if (missing) {
  it(`semi-sync tests did not run: ${missing}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe('semi-sync AFTER_SYNC primary/replica: primary SIGKILLed under load, replica promoted', () => {
    let root: string | undefined;
    let nodes: MariaNode[] = [];
    const servers: ServerProcess[] = [];

    beforeAll(async () => {
      const ports = await portBlock(33200, 33239, 2);
      root = clusterRoot('semisync');
      nodes = await startPrimaryReplica(root, ports, true);
      // a small step: fetches keep happening through the failover
      servers.push(
        ...(await twoInstancesWithKey({ DATABASE_URL: appUrl(ports), SEGMENT_DYNAMIC_STEP: 'false', LOG_LEVEL: 'warn' }, ADMIN_TOKEN, { key: 'semi', step: 2000 }, SEGMENT)),
      );
    }, 300_000);

    afterAll(async () => {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
      await teardown(nodes, root);
    }, 60_000);

    it('0 duplicates, no key halted, and semi-sync stayed on during the load', async () => {
      const [primary, replica] = nodes;
      const noTxBefore = await primary.status('Rpl_semi_sync_master_no_tx');
      const load = new HaLoad(() => servers, [SEGMENT, SNOWFLAKE], { pauseMs: 5, maxRequests: 20_000 });
      try {
        await sleep(4000);
        const semiStatus = await primary.status('Rpl_semi_sync_master_status');
        const noTxAtKill = await primary.status('Rpl_semi_sync_master_no_tx');
        const yesTx = Number(await primary.status('Rpl_semi_sync_master_yes_tx'));
        load.phase = 'during';
        await primary.kill('SIGKILL');
        await promote(replica);
        await sleep(3000);
        load.phase = 'after';
        await sleep(4000);
        await load.stop();
        console.log(`semi-sync failover:\n${load.report()}\nsemi-sync acknowledged commits before the kill: ${yesTx}`);

        expect(semiStatus).toBe('ON');
        expect(noTxAtKill).toBe(noTxBefore); // no commit went unacknowledged
        expect(yesTx).toBeGreaterThan(0);
        expect(duplicates(load.ids[SEGMENT])).toEqual([]);
        expect(duplicates(load.ids[SNOWFLAKE])).toEqual([]);
        // after the promotion every instance issues from the new primary, no key halted
        expect(load.notServedAfter()).toEqual([]);
        for (const s of servers) {
          const r = await request(`${s.url}/health/ready`);
          expect(r.status).toBe(200);
          expect(r.body.info.database.host).toBe('2 of 2');
        }
      } finally {
        await load.stop();
      }
    }, 240_000);
  });
}
