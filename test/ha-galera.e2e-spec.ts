import { Connection } from 'mysql2/promise';
import { request } from './support/app';
import { duplicates } from './support/load';
import { ServerProcess, sleep } from './support/process';
import { appUrl, clusterPackagesMissing, clusterPorts, MariaNode, startGalera, teardown, waitSynced } from './support/mariadb-cluster';
import { CommitProbe, createKey, HaLoad } from './ha-load';

/**
 * Issue 12: a real 3-node MariaDB Galera cluster on loopback (the machine's galera-4 and rsync),
 * three service processes, each with its own node first in a multi-host URL. Under load one
 * node is SIGKILLed, then rejoins with an rsync state transfer.
 */
const ADMIN_TOKEN = 'ha-galera-admin-token';
const SEGMENT = '/ids/segment?key=ha&count=50';
const SNOWFLAKE = '/ids/snowflake?count=50';
const missing = clusterPackagesMissing(true);

if (missing) {
  it(`Galera tests did not run: ${missing}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe('Galera: 3 nodes, one SIGKILLed under load and rejoined by rsync SST', () => {
    let root: string | undefined;
    const nodes: MariaNode[] = [];
    const servers: ServerProcess[] = [];

    beforeAll(async () => {
      const cluster = await startGalera('ha', await clusterPorts(33100, 33199, 12), async (first) => {
        await first.query('CREATE TABLE idha.probe (id INT PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB');
        await first.query('INSERT INTO idha.probe VALUES (1, 0)');
      });
      root = cluster.root;
      nodes.push(...cluster.nodes);
      const mysql = cluster.ports;

      const env = (first: number) => ({
        DATABASE_URL: appUrl([0, 1, 2].map((k) => mysql[(first + k) % 3])),
        ADMIN_TOKEN,
        SEGMENT_DYNAMIC_STEP: 'false',
        // a partition allocation every 10 ids: the partition's row is written as often as the hot key's
        PARTITION_SEGMENT_SIZE: '10',
        LOG_LEVEL: 'warn',
      });
      // a first deploy: all three at once on a new database, each through its own node
      servers.push(...(await Promise.all([0, 1, 2].map((first) => ServerProcess.start(env(first), [], 60_000)))));
      // step > 2 x rate x the longest stall: no instance needs a fetch while commits stall
      await createKey(servers[0], ADMIN_TOKEN, { key: 'ha', step: 200_000 });
      // every request of 10 takes a fetch: the key's row is written through all three nodes at once
      await createKey(servers[0], ADMIN_TOKEN, { key: 'hot', step: 10 });
      for (const s of servers) {
        expect((await request(`${s.url}${SEGMENT}`)).status).toBe(200); // warmed
        await waitReady(s);
      }
      // leases taken through three nodes: one writer (the cluster), so none counted a move
      for (const s of servers) expect(s.output).not.toContain('taking lease writes changed');
    }, 300_000);

    afterAll(async () => {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
      await teardown(nodes, root);
    }, 60_000);

    /**
     * Jepsen's analysis of MariaDB Galera Cluster 12.1.2 (2026) found lost updates (P4) between
     * transactions on different nodes even in a healthy cluster. A fetch is one UPDATE that reads
     * the row it writes (max_id = max_id + step), and a partition allocation one REPLACE under the
     * layout row's shared lock: write sets that touch the same row, which certification orders or
     * aborts (ER_LOCK_DEADLOCK, sent again). Three instances, each writing through its own node,
     * hammer one key and one partition, every answer a fetch or an allocation.
     */
    it('instances writing through different nodes at once, on one key and one partition: 0 duplicates over every id', async () => {
      const paths = ['/ids/segment?key=hot&count=10', '/ids/partition?count=10'];
      const ids: Record<string, string[]> = Object.fromEntries(paths.map((p) => [p, []]));
      const refused: Record<string, number> = {};
      const CALLERS = 3; // per instance and path
      const PER_CALLER = 150;
      const started = Date.now();
      await Promise.all(
        servers.flatMap((s) =>
          paths.flatMap((path) =>
            Array.from({ length: CALLERS }, async () => {
              for (let n = 0; n < PER_CALLER; n++) {
                const res = await request(`${s.url}${path}`);
                if (res.status === 200) ids[path].push(...(res.body.ids as string[]));
                else refused[`${path} ${res.status} ${res.body.code}`] = (refused[`${path} ${res.status} ${res.body.code}`] ?? 0) + 1;
              }
            }),
          ),
        ),
      );
      const conflicts = await Promise.all(nodes.map((n) => n.status('wsrep_local_cert_failures')));
      const hosts = await Promise.all(servers.map(async (s) => (await request(`${s.url}/health/ready`)).body.info.database.host));
      console.log(
        `Galera, three instances writing through three nodes at once (${Date.now() - started} ms): ` +
          `${paths.map((p) => `${p}: ${ids[p].length} ids`).join(', ')}; refused ${JSON.stringify(refused)}; ` +
          `certification failures per node ${conflicts.join(', ')}; hosts in use ${hosts.join(', ')}`,
      );
      // each instance still writes through its own node: the load ran on three nodes at once
      expect(hosts).toEqual(['1 of 3', '1 of 3', '1 of 3']);
      // every request answered: a certification conflict is a transaction sent again, not a 503
      // (partition allocations answered 9-17 503s of 1,350 here before transaction() retried)
      expect(refused).toEqual({});
      for (const p of paths) {
        expect(ids[p].length).toBe(servers.length * CALLERS * PER_CALLER * 10);
        expect(duplicates(ids[p])).toEqual([]);
      }
    }, 180_000);

    it('0 duplicates; instances on live nodes answer only 200s; the one whose node died issues through another node', async () => {
      const load = new HaLoad(() => servers, [SEGMENT, SNOWFLAKE], { pauseMs: 5, maxRequests: 20_000 });
      let probeConn: Connection | undefined = await nodes[1].root();
      const probe = new CommitProbe(async () => void (await probeConn!.query('UPDATE idha.probe SET n = n + 1 WHERE id = 1')));
      try {
        await sleep(3000);
        load.phase = 'during';
        await nodes[0].kill('SIGKILL');
        await sleep(10_000); // the survivors evict it; instance 1 moves on
        // a statement on instance 1's main pool (its buffers need none yet): an unknown-key lookup
        expect((await request(`${servers[0].url}/ids/segment?key=no-such-key`)).body.code).toBe('UNKNOWN_KEY');
        const readiness = await request(`${servers[0].url}/health/ready`);
        await nodes[0].rejoin(); // a full state transfer
        await waitSynced(nodes, 3);
        load.phase = 'after';
        await sleep(3000);
        await load.stop();
        await probe.stop();

        const report = `${load.report()}\nlongest commit on node 2 during the kill: ${probe.longestMs} ms`;
        console.log(`Galera kill (issue 12 closing note):\n${report}`);

        const segmentIds = load.ids[SEGMENT];
        const snowflakeIds = load.ids[SNOWFLAKE];
        expect(segmentIds.length).toBeGreaterThan(1000);
        expect(snowflakeIds.length).toBeGreaterThan(1000);
        expect(duplicates(segmentIds)).toEqual([]);
        expect(duplicates(snowflakeIds)).toEqual([]);
        // the instances on live nodes: only 200s, snowflake included (the reservation rode out the stall)
        expect([load.refusals(1), load.refusals(2)]).toEqual([0, 0]);
        // the instance whose node died kept issuing through another node, and stays there
        for (const t of load.tallies[0]) {
          expect(t.ok.during).toBeGreaterThan(0);
          expect(t.ok.after).toBeGreaterThan(0);
        }
        expect(servers[0].output).toMatch(/host 1 of 3 \(127\.0\.0\.1:\d+\) is not usable .* moving to host 2 of 3/);
        expect(readiness.status).toBe(200);
        // node 2 itself stalls until the survivors evict node 1 (its commits waited 6 s once on
        // CI): an instance that timed out there too moves on to node 3, just as right
        expect(readiness.body.info.database.status).toBe('up');
        expect(['2 of 3', '3 of 3']).toContain(readiness.body.info.database.host);
        expect(readiness.text).not.toMatch(/127\.0\.0\.1/);
        const back = await request(`${servers[0].url}/health/ready`);
        // never back to node 1 once it rejoined; the rsync donor (Donor/Desynced, not Synced, while
        // it feeds node 1) may have sent it on to node 3
        expect(['2 of 3', '3 of 3']).toContain(back.body.info.database.host);
      } finally {
        await load.stop();
        await probe.stop();
        await probeConn?.end().catch(() => undefined);
        probeConn = undefined;
      }
    }, 240_000);
  });
}

async function waitReady(s: ServerProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await request(`${s.url}/health/ready`)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`not ready:\n${s.output}`);
    await sleep(200);
  }
}
