import { PgPool } from '@app/database';
import { request } from './support/app';
import { duplicates } from './support/load';
import { portBlock, waitFor } from './support/local-cluster';
import { PgNode, pgAppUrl, pgClusterRoot, postgresPackagesMissing, startPrimaryStandbys, stopPgCluster } from './support/pg-cluster';
import { ServerProcess, sleep } from './support/process';
import { HaLoad, twoInstancesWithKey } from './ha-load';

/**
 * Issue 29: PostgreSQL failover with real servers (test/support/pg-cluster.ts) and real service
 * processes on `postgres://...@primary,standby/db`, the twins of the MariaDB HA suites.
 * - PgPool itself on a primary and a standby: a standby (in recovery) is not usable; promoted,
 *   it is.
 * - A synchronous standby (synchronous_commit = on) promoted with `pg_ctl promote` after the
 *   primary's immediate stop, under load: nothing acknowledged is lost, every instance moves to
 *   it, no id repeats, nothing refused once moved.
 * - An asynchronous standby that stopped receiving, promoted after losing commits: every
 *   instance halts the key and the partition it had fetched beyond, and the runbooks (skip to
 *   the published target) resume them with no id issued twice.
 */
const ADMIN_TOKEN = 'ha-postgres-admin-token';
const missing = postgresPackagesMissing();

const admin = (server: ServerProcess, method: string, path: string, body?: unknown) =>
  request(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** ms from `since` until each instance's readiness names host `host` (to waitFor's 200 ms, bounded) */
async function timeToMove(servers: ServerProcess[], host: string, since: number, timeoutMs: number): Promise<number[]> {
  return Promise.all(
    servers.map(async (s) => {
      let at = 0;
      await waitFor(
        async () => {
          const r = await request(`${s.url}/health/ready`);
          if (r.body?.details?.database?.host !== host) return false;
          at = Date.now();
          return true;
        },
        timeoutMs,
        `${s.url} to move to host ${host}`,
      );
      return at - since;
    }),
  );
}

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

  describe('PostgreSQL: a synchronous standby promoted under load after the primary stopped (immediate)', () => {
    const SEGMENT = '/ids/segment?key=pgsync&count=50';
    const PARTITION = '/ids/partition?count=50';
    const TICKET = '/ids/ticket?count=5';
    const SNOWFLAKE = '/ids/snowflake?count=50';
    const paths = [SEGMENT, PARTITION, TICKET, SNOWFLAKE];
    let root: string | undefined;
    let nodes: PgNode[] = [];
    const servers: ServerProcess[] = [];

    beforeAll(async () => {
      const ports = await portBlock(35500, 35599, 2);
      root = pgClusterRoot('sync');
      const { primary, standbys } = await startPrimaryStandbys(root, ports, ['sync']);
      nodes = [primary, ...standbys];
      // a small step: fetches keep happening through the failover
      servers.push(
        ...(await twoInstancesWithKey(
          { DATABASE_URL: pgAppUrl(ports), SEGMENT_DYNAMIC_STEP: 'false', PARTITION_SEGMENT_SIZE: '2000', LOG_LEVEL: 'warn' },
          ADMIN_TOKEN,
          { key: 'pgsync', step: 2000 },
          SEGMENT,
        )),
      );
      for (const s of servers) for (const p of [PARTITION, TICKET, SNOWFLAKE]) expect((await request(`${s.url}${p}`)).status).toBe(200);
    }, 300_000);

    afterAll(async () => {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
      await stopPgCluster(nodes, root);
    }, 60_000);

    it('every instance moves to the promoted standby: 0 duplicates, nothing refused once moved', async () => {
      const [primary, standby] = nodes;
      for (const s of servers) expect((await request(`${s.url}/health/ready`)).body.info.database.host).toBe('1 of 2');
      const load = new HaLoad(() => servers, paths, { pauseMs: 5, maxRequests: 20_000 });
      try {
        await sleep(4000);
        expect((await primary.replicationOf(standby))?.syncState).toBe('sync');
        load.phase = 'during';
        const stoppedAt = Date.now();
        await primary.stop('immediate');
        await standby.promote();
        const promotedMs = Date.now() - stoppedAt;
        const moveMs = await timeToMove(servers, '2 of 2', stoppedAt, 60_000);
        load.phase = 'after';
        await sleep(4000);
        await load.stop();
        const all = paths.flatMap((p) => load.ids[p]);
        const during = load.refusedIn('during');
        console.log(
          `PostgreSQL sync-standby failover: ${all.length} ids collected, ${paths.map((p) => `${p}: ${duplicates(load.ids[p]).length} duplicates`).join(', ')}; ` +
            `${during} requests failed during the move; promoted ${promotedMs} ms after the stop; instances moved after ${moveMs.join(' / ')} ms\n${load.report()}`,
        );

        for (const p of paths) expect(duplicates(load.ids[p])).toEqual([]);
        expect(load.tallies.flat().every((t) => t.ok.before > 0)).toBe(true);
        expect(load.notServedAfter()).toEqual([]);
        for (const s of servers) {
          const r = await request(`${s.url}/health/ready`);
          expect(r.status).toBe(200);
          expect(r.body.info.database.host).toBe('2 of 2');
          // nothing acknowledged was lost: no halt
          expect(r.body.details.segment.keys.pgsync.status).toBe('up');
          expect(r.body.details.partition.partitions['1'].status).toBe('up');
        }
      } finally {
        await load.stop();
      }
    }, 240_000);
  });

  describe('PostgreSQL: an asynchronous standby promoted after losing commits', () => {
    const POLL_MS = 1000;
    const SEGMENT = '/ids/segment?key=pgasync&count=50';
    const PARTITION = '/ids/partition?count=50';
    const paths = [SEGMENT, PARTITION];
    let root: string | undefined;
    let nodes: PgNode[] = [];
    const servers: ServerProcess[] = [];

    beforeAll(async () => {
      const ports = await portBlock(35600, 35699, 2);
      root = pgClusterRoot('async');
      const { primary, standbys } = await startPrimaryStandbys(root, ports, ['async']);
      nodes = [primary, ...standbys];
      servers.push(
        ...(await twoInstancesWithKey(
          { DATABASE_URL: pgAppUrl(ports), SEGMENT_DYNAMIC_STEP: 'false', SEGMENT_POLL_MS: String(POLL_MS), PARTITION_SEGMENT_SIZE: '500', LOG_LEVEL: 'warn' },
          ADMIN_TOKEN,
          { key: 'pgasync', step: 500 },
          SEGMENT,
        )),
      );
      for (const s of servers) expect((await request(`${s.url}${PARTITION}`)).status).toBe(200);
    }, 300_000);

    afterAll(async () => {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
      await stopPgCluster(nodes, root);
    }, 60_000);

    it('every instance halts the key and the partition; the runbooks resume them; 0 duplicates over everything', async () => {
      const [primary, standby] = nodes;
      const maxIdOn = async (node: PgNode) => BigInt((await node.value(`SELECT max_id FROM leaf_alloc WHERE biz_tag = 'pgasync'`, 'idha'))!);
      await primary.waitReplayed(standby);
      await standby.stopReceiving();
      const keptMax = await maxIdOn(standby);
      const load = new HaLoad(() => servers, paths, { pauseMs: 5, maxRequests: 20_000 });
      try {
        await sleep(4500); // > 3 poll periods, several fetches per instance
        const lostMax = await maxIdOn(primary);
        load.phase = 'during';
        const stoppedAt = Date.now();
        await primary.stop('immediate');
        await standby.promote();
        const moveMs = await timeToMove(servers, '2 of 2', stoppedAt, 60_000);
        // every instance halts the key and the partition it had fetched beyond
        let answers: { status: number; body: any }[] = [];
        const partitionOf = (ready: { body: any }) => ready.body?.details?.partition?.partitions?.['1'];
        await waitFor(
          async () => {
            answers = await Promise.all(servers.flatMap((s) => [request(`${s.url}${SEGMENT}`), request(`${s.url}/health/ready`)]));
            return answers.every((r, i) => (i % 2 === 0 ? r.status === 503 && /rolled back/.test(r.body.message) : /rolled back/.test(partitionOf(r)?.reason)));
          },
          30_000,
          'every instance to halt the key and the partition',
        ).catch((e) => {
          throw new Error(`${(e as Error).message}; last answers: ${JSON.stringify(answers.map((r) => [r.status, r.body?.message ?? partitionOf(r)]))}`);
        });
        const halted = await Promise.all(servers.map((s) => request(`${s.url}${SEGMENT}`)));
        const haltedPartition = await Promise.all(servers.map((s) => request(`${s.url}${PARTITION}`)));
        const readyWhileHalted = await Promise.all(servers.map((s) => request(`${s.url}/health/ready`)));
        const issuedBefore = Object.fromEntries(paths.map((p) => [p, [...load.ids[p]]]));
        const highestBefore = Object.fromEntries(paths.map((p) => [p, issuedBefore[p].map(BigInt).reduce((a, b) => (a > b ? a : b), 0n)]));

        // the runbooks (docs/operations.md, docs/compatibility.md): let every instance poll the new primary, then skip
        const runbook = await resumeKeyByRunbook(servers, 'pgasync', POLL_MS);
        const partitionRunbook = await resumePartitionByRunbook(servers, 1, highestBefore[PARTITION], POLL_MS);
        load.phase = 'after';
        await sleep(3000);
        await load.stop();
        const resumed = (p: string) => load.ids[p].slice(issuedBefore[p].length);
        const during = load.refusedIn('during');
        console.log(
          `PostgreSQL async-standby failover (segment max_id ${lostMax} on the old primary, ${keptMax} on the promoted standby): ` +
            paths.map((p) => `${p}: ${load.ids[p].length} ids collected (${issuedBefore[p].length} before the halt, ${resumed(p).length} after the runbook), ${duplicates(load.ids[p]).length} duplicates`).join('; ') +
            `; ${during} requests refused between the stop and the runbooks' end; instances moved after ${moveMs.join(' / ')} ms; ` +
            `segment runbook: ${runbook.steps.join('; ')}; partition runbook: ${partitionRunbook.steps.join('; ')}\n${load.report()}`,
        );

        expect(lostMax - keptMax).toBeGreaterThanOrEqual(500n * 4n); // several fetches lost
        for (const r of halted) {
          expect(r.status).toBe(503);
          expect(r.body.code).toBe('SEGMENT_UNAVAILABLE');
          expect(r.body.message).toMatch(/halted: the database rolled back below ids already handed out/);
        }
        for (const r of haltedPartition) {
          expect(r.status).toBe(503);
          expect(r.body.message).toMatch(/every partition is halted by the rollback guard or unusable/);
        }
        for (const r of readyWhileHalted) {
          expect(r.body.details.segment.keys.pgasync.status).toBe('down');
          expect(partitionOf(r)).toMatchObject({ status: 'down', reason: expect.stringMatching(/^rolled back: its database went back/) });
        }
        expect(BigInt(runbook.target)).toBeGreaterThan(highestBefore[SEGMENT]);
        for (const p of paths) {
          expect(resumed(p).length).toBeGreaterThan(0);
          const above = highestBefore[p];
          expect(resumed(p).filter((id) => BigInt(id) <= above)).toEqual([]);
          expect(duplicates(load.ids[p])).toEqual([]);
        }
        expect(load.notServedAfter()).toEqual([]);
      } finally {
        await load.stop();
      }
    }, 240_000);
  });
}

/**
 * The runbook of docs/operations.md for one key, bounded to three rounds: wait until every
 * instance polled the new primary (2 poll periods), skip to `requiredSkipTarget` ({"by": 1} when
 * other instances already issue above it), wait `appliedByAllWithinMs`, and check every
 * instance's readiness shows the key up.
 */
async function resumeKeyByRunbook(servers: ServerProcess[], key: string, pollMs: number): Promise<{ target: string; steps: string[] }> {
  const steps: string[] = [];
  let target = '';
  for (let round = 1; round <= 3; round++) {
    await sleep(2 * pollMs);
    const listed = await admin(servers[0], 'GET', '/admin/segments');
    const required: string | undefined = listed.body.segments.find((s: { key: string }) => s.key === key)?.requiredSkipTarget;
    if (!required) {
      steps.push(`round ${round}: no requiredSkipTarget yet`);
      continue;
    }
    target = required;
    let skip = await admin(servers[0], 'POST', `/admin/segments/${key}/skip`, { to: required });
    if (skip.status === 400 && skip.body.code === 'SKIP_BACKWARDS' && /already issues from/.test(skip.body.message)) {
      skip = await admin(servers[0], 'POST', `/admin/segments/${key}/skip`, { by: 1 });
      steps.push(`round ${round}: to ${required} was passed, skipped by 1 (${skip.status})`);
    } else {
      steps.push(`round ${round}: skipped to ${required} (${skip.status}${skip.status === 200 ? '' : ` ${skip.body.code}: ${skip.body.message}`})`);
    }
    if (skip.status !== 200) continue;
    await sleep(skip.body.appliedByAllWithinMs);
    const ready = await Promise.all(servers.map((s) => request(`${s.url}/health/ready`)));
    if (ready.every((r) => r.body?.details?.segment?.keys?.[key]?.status === 'up')) return { target, steps };
    steps.push(`round ${round}: still down on some instance`);
  }
  throw new Error(`the runbook did not resume ${key}: ${steps.join('; ')}`);
}

/**
 * The partition runbook of docs/compatibility.md, bounded to three rounds: wait until every
 * instance polled the new primary, skip to the larger of the highest id issued (the test's
 * records) and the smallest target the halted instances publish, wait `appliedByAllWithinMs`,
 * and check every instance's readiness shows the partition up.
 */
async function resumePartitionByRunbook(servers: ServerProcess[], idx: number, highestIssued: bigint, pollMs: number): Promise<{ target: string; steps: string[] }> {
  const steps: string[] = [];
  for (let round = 1; round <= 3; round++) {
    await sleep(2 * pollMs);
    const ready = await Promise.all(servers.map((s) => request(`${s.url}/health/ready`)));
    const published = ready.map((r) => r.body?.details?.partition?.partitions?.[idx]?.smallestSkipTarget).filter((t): t is string => t !== undefined);
    const target = [highestIssued, ...published.map(BigInt)].reduce((a, b) => (a > b ? a : b)).toString();
    const skip = await admin(servers[0], 'POST', `/admin/partitions/${idx}/skip`, { to: target });
    steps.push(`round ${round}: skipped to ${target} (published ${published.join(', ') || 'none'}; ${skip.status}${skip.status === 200 ? '' : ` ${skip.body.code}: ${skip.body.message}`})`);
    if (skip.status !== 200) continue;
    await sleep(skip.body.appliedByAllWithinMs);
    const after = await Promise.all(servers.map((s) => request(`${s.url}/health/ready`)));
    if (after.every((r) => r.body?.details?.partition?.partitions?.[idx]?.status === 'up')) return { target, steps };
    steps.push(`round ${round}: still down on some instance`);
  }
  throw new Error(`the runbook did not resume partition ${idx}: ${steps.join('; ')}`);
}
