import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import { request } from './support/app';
import { duplicates, pullIds } from './support/load';
import { adminConnection, freshDatabase, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { goIdAllocDdl, goIdAllocV1Ddl, LEAF_DDL, ReplayedSegmentService, ReplayedV1Partition } from './support/old-services';
import { freePort, ServerProcess } from './support/process';

/*
 * Migrations from the services we replace, as their runbooks in the README say. The old services
 * are replayed (their SQL and arithmetic) against MariaDB; ours run as real processes.
 */

const ADMIN_TOKEN = 'migration-replay-admin-token';
const dsn = (db: string) => `${MYSQL_USER}@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${db}`;

function allocJson(content: Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'idalloc-mig-')), 'alloc.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
}

async function triggersOn(conn: Connection, db: string, table: string): Promise<number> {
  const [rows] = (await conn.query(
    'SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?',
    [db, table],
  )) as unknown as [{ n: string }[]];
  return Number(rows[0].n);
}

const maxOf = (ids: string[]) => ids.reduce((a, id) => (BigInt(id) > a ? BigInt(id) : a), 0n);
const minOf = (ids: string[]) => ids.reduce((a, id) => (BigInt(id) < a ? BigInt(id) : a), BigInt(ids[0]));

if (!mysqlAvailable()) {
  it(`migration replay tests did not run: ${mysqlUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe('go-id-alloc v1 (partition tables): a cut-over', () => {
    const S = 1000;
    const P = 2;
    let dbs: Awaited<ReturnType<typeof freshDatabase>>[] = [];
    const servers: ServerProcess[] = [];
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => s.kill()));
      await Promise.all(dbs.map((d) => d.drop()));
      dbs = [];
    });

    /** each partition in its own database, as go-id-alloc's README deploys it; v1 run, then stopped */
    async function v1Ran(consumed: number[]): Promise<ReplayedV1Partition[]> {
      dbs = [await freshDatabase('v1p1'), await freshDatabase('v1p2')];
      const replays: ReplayedV1Partition[] = [];
      for (const [i, db] of dbs.entries()) {
        const conn = await adminConnection(db.name);
        await conn.query(goIdAllocV1Ddl(i + 1));
        const v1 = new ReplayedV1Partition(conn, i + 1, P, S);
        await v1.open();
        await v1.runFor(consumed[i]);
        await conn.end();
        replays.push(v1);
      }
      return replays;
    }

    async function startOurs(argvFor: (path: string) => string[], env: Record<string, string> = {}): Promise<void> {
      for (const [i, db] of dbs.entries()) {
        const port = await freePort();
        const path = allocJson({ PartitionIdx: i + 1, TotalPartition: P, SegmentSize: S, DSN: dsn(db.name), HttpPort: port });
        const server = ServerProcess.spawn(env, argvFor(path), port);
        servers.push(server);
        await server.waitLive();
      }
    }

    it('stop every v1 process, start ours on the same tables: every id strictly above all v1 could have issued', async () => {
      // both partitions ran (counters 1,3,..,9 and 1,3,..,7 under auto_increment_increment=2)
      const v1 = await v1Ran([3, 2]);
      expect(v1.map((p) => p.counters.map(String))).toEqual([['1', '3', '5', '7', '9'], ['1', '3', '5', '7']]);
      const v1Highest = v1.map((p) => p.highestPossible).reduce((a, b) => (b > a ? b : a));
      expect(v1Highest).toBe(8999n);

      await startOurs((path) => ['-config', path]);
      const result = await pullIds({
        urls: () => servers.map((s) => s.url),
        path: '/alloc',
        total: 6000,
        batch: 1,
        concurrency: 8,
        deadlineMs: 120_000,
        pick: (body: { Errno: number; Id: number }) => (body.Errno === 0 ? [String(body.Id)] : []),
      });
      expect(result.ids.length).toBeGreaterThanOrEqual(6000);
      expect(duplicates(result.ids)).toEqual([]);
      expect(minOf(result.ids) > v1Highest).toBe(true);
    }, 150_000);

    it('partitions run very unevenly: the runbook’s skip puts every partition above the highest v1 id first', async () => {
      // partition 1 used 10 segments, partition 2 none: partition 2's next counter alone lies below v1's ids
      const v1 = await v1Ran([10, 0]);
      const N = v1.map((p) => p.highestPossible).reduce((a, b) => (b > a ? b : a));
      expect(N).toBe(22999n); // partition 1's counters 1, 3, ..., 23
      // without the skip, partition 2's next counter (at least 4) maps to segment (4-1)*2+1 = 7, ids from 7001: below N
      expect(v1[1].counters.map(String)).toEqual(['1', '3']);
      expect(1n + ((4n - 1n) * 2n + 1n) * 1000n < N).toBe(true);
      await startOurs((path) => [`--config=${path}`], { ADMIN_TOKEN });
      for (const [i, server] of servers.entries()) {
        const res = await request(`${server.url}/admin/partitions/${i + 1}/skip`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to: N.toString() }),
        });
        // partition 1's own counter already maps above N: the skip says so and changes nothing
        if (i === 0) expect(res.body.code).toBe('SKIP_BACKWARDS');
        else expect(BigInt(res.body.nextSegmentStart) > N).toBe(true);
      }
      const result = await pullIds({
        urls: () => servers.map((s) => s.url),
        path: '/ids/partition',
        total: 10_000,
        batch: 100,
        concurrency: 4,
        deadlineMs: 120_000,
      });
      expect(result.ids.length).toBeGreaterThanOrEqual(10_000);
      expect(duplicates(result.ids)).toEqual([]);
      expect(minOf(result.ids) > N).toBe(true);
    }, 150_000);
  });

  describe.each([
    {
      name: 'Leaf (leaf_alloc)',
      table: 'leaf_alloc',
      ddl: LEAF_DDL,
      seed: "INSERT INTO leaf_alloc (biz_tag, max_id, step, description) VALUES ('leaf-segment-test', 1, 2000, 'Test leaf Segment Mode Get Id')",
      key: 'leaf-segment-test',
      skipZero: false,
      // Leaf's dynamic step passes a step of its own every few fetches
      customStepEvery: 4,
      start: (db: string) => ({ env: { DATABASE_URL: `mysql://${MYSQL_USER}@${MYSQL_HOST}:${MYSQL_PORT}/${db}` }, argv: [] as string[] }),
      path: (key: string) => `/api/segment/get/${key}`,
      pick: (text: string) => text,
    },
    {
      name: "go-id-alloc's current version (segments)",
      table: 'segments',
      ddl: goIdAllocDdl(),
      seed: "INSERT INTO segments (biz_tag, max_id, step, description, update_time) VALUES ('test', 0, 100, 'test', NOW())",
      key: 'test',
      skipZero: true,
      customStepEvery: 0,
      start: (db: string) => ({ env: {}, argv: ['-config', allocJson({ DSN: dsn(db), table: 'segments', HttpReadTimeout: 5000, HttpWriteTimeout: 5000 })] }),
      path: (key: string) => `/alloc?biz_tag=${key}`,
      pick: (text: string) => /^\{"errno":0,"msg":"success","id":([1-9][0-9]*)\}$/.exec(text)![1],
    },
  ])('$name: side by side on one table', (source) => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let conn: Connection;
    const servers: ServerProcess[] = [];

    beforeAll(async () => {
      db = await freshDatabase(`side_${source.table}`);
      conn = await adminConnection(db.name);
      await conn.query(source.ddl);
      await conn.query(source.seed);
      for (let i = 0; i < 2; i++) {
        const port = await freePort();
        const { env, argv } = source.start(db.name);
        // go-id-alloc's alloc.json names no port of ours: PORT from the environment
        const server = ServerProcess.spawn({ ...env, PORT: String(port) }, argv, port);
        servers.push(server);
        await server.waitLive();
      }
    }, 90_000);
    afterAll(async () => {
      await Promise.all(servers.map((s) => s.kill()));
      await conn?.end();
      await db?.drop();
    });

    it('the old service and ours draw at once: 0 duplicates, every id collected, then the old one stops', async () => {
      const old = new ReplayedSegmentService(conn, source.table, source.key, source.skipZero);
      let stop = false;
      const replay = old.run(() => stop, 400, source.customStepEvery);
      const ours: string[] = [];
      const callers = Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; i < 300; i++) {
          const res = await fetch(`${servers[(c + i) % 2].url}${source.path(source.key)}`);
          const text = await res.text();
          expect(res.status).toBe(200);
          ours.push(source.pick(text));
        }
      });
      await Promise.all(callers);
      stop = true;
      await replay;
      expect(old.fetches).toBeGreaterThan(0);
      expect(ours).toHaveLength(2400);
      const all = [...old.ids, ...ours];
      expect(duplicates(all)).toEqual([]);
      expect(all.every((id) => BigInt(id) >= 1n)).toBe(true);

      // the old service is stopped; ours carries on above everything the table records
      const [rows] = (await conn.query(`SELECT max_id FROM ${source.table} WHERE biz_tag = ?`, [source.key])) as unknown as [{ max_id: string }[]];
      const recorded = BigInt(rows[0].max_id);
      expect(maxOf(all) < recorded).toBe(true);
      const after: string[] = [];
      for (let i = 0; i < 50; i++) {
        const res = await fetch(`${servers[i % 2].url}/ids/segment?key=${source.key}&count=100`);
        after.push(...((await res.json()) as { ids: string[] }).ids);
      }
      expect(duplicates([...all, ...after])).toEqual([]);
    }, 180_000);

    it('the table is left as the old service expects: no row added, no trigger', async () => {
      const [rows] = (await conn.query(`SELECT biz_tag FROM ${source.table}`)) as unknown as [{ biz_tag: string }[]];
      expect(rows.map((r) => r.biz_tag)).toEqual([source.key]);
      expect(await triggersOn(conn, db.name, source.table)).toBe(0);
    });
  });
}
