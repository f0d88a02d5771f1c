import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningApp, request, startApp } from './support/app';
import { testConfig } from './support/config';
import { dialects, openDatabase, ServerUnderTest, serversUnderTest, TestDatabase, throughProxy } from './support/dialects';
import { duplicates, pullIds } from './support/load';
import { freshDatabase, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { freePort, ServerProcess, sleep } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

const tmp = () => mkdtempSync(join(tmpdir(), 'idalloc-part-'));

describe('partition, /alloc, ticket and Leaf routes on the embedded default', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp(testConfig());
  });
  afterAll(() => app.close());

  it("/alloc answers go-id-alloc's shape with a JSON number, from 1", async () => {
    const res = await app.get('/alloc');
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"Errno":0,"Msg":"","Id":1}');
    const more = await app.get('/ids/partition?count=3');
    expect(more.body).toEqual({ strategy: 'partition', key: 'default', ids: ['2', '3', '4'] });
  });

  it('ticket: one row per id, increasing', async () => {
    const res = await app.get('/ids/ticket?count=5');
    expect(res.status).toBe(200);
    expect(res.body.ids.map(Number)).toEqual([1, 2, 3, 4, 5]);
  });

  it("Leaf's routes: the id as text/plain, errors as our JSON with a non-2xx status", async () => {
    const seg = await app.get('/api/segment/get/default');
    expect(seg.status).toBe(200);
    expect(seg.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(seg.text).toMatch(/^[1-9][0-9]*$/);
    const missing = await app.get('/api/segment/get/nokey');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/);
    expect(missing.body.code).toBe('UNKNOWN_KEY');
    expect((await app.get('/api/segment/get/bad%20key')).body.code).toBe('INVALID_KEY');
    const snow = await app.get('/api/snowflake/get/anything');
    expect(snow.status).toBe(200);
    expect(snow.text).toMatch(/^[1-9][0-9]{15,18}$/);
  });
});

describe('bad alloc.json stops the process at start with one clear line', () => {
  const base = { PartitionIdx: 1, TotalPartition: 2, SegmentSize: 1000, DSN: 'root@tcp(127.0.0.1:3306)/x' };
  it.each([
    ['missing field', { ...base, SegmentSize: undefined }, 'SegmentSize: missing from alloc.json'],
    ['PartitionIdx 0', { ...base, PartitionIdx: 0 }, 'PartitionIdx: must be a whole number >= 1'],
    ['PartitionIdx > TotalPartition', { ...base, PartitionIdx: 3 }, 'PartitionIdx: must be from 1 to TotalPartition (2)'],
    ['bad DSN', { ...base, DSN: 'root@127.0.0.1/x' }, 'DSN: expected'],
    ['SegmentSize 0', { ...base, SegmentSize: 0 }, 'SegmentSize: must be a whole number >= 1'],
  ])('%s', async (_name, file, expected) => {
    const path = join(tmp(), 'alloc.json');
    writeFileSync(path, JSON.stringify(file));
    const server = ServerProcess.spawn({}, ['--config', path], await freePort());
    const exit = await server.exited;
    expect(exit.code).toBe(2);
    const lines = server.output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`id-allocator: invalid configuration: ${expected}`);
  });
});

describe.each(dialects())('ticket: 3 instances on one %s database', (dialect) => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    db = await openDatabase(dialect, 'ticket');
    servers.push(await ServerProcess.start({ ...db.env }));
    servers.push(...(await Promise.all([ServerProcess.start({ ...db.env }), ServerProcess.start({ ...db.env })])));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await db?.drop();
  });

  it('0 duplicates', async () => {
    const result = await pullIds({ urls: () => servers.map((s) => s.url), path: '/ids/ticket', total: 6000, batch: 20, concurrency: 9, deadlineMs: 120_000 });
    expect(result.ids.length).toBeGreaterThanOrEqual(6000);
    expect(duplicates(result.ids)).toEqual([]);
  }, 130_000);
});

if (!mysqlAvailable()) {
  it(`partition MariaDB tests did not run: ${mysqlUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe("go-id-alloc's README deployment, reproduced on our service", () => {
    const dbs: Awaited<ReturnType<typeof freshDatabase>>[] = [];
    const servers: ServerProcess[] = [];

    beforeAll(async () => {
      dbs.push(await freshDatabase('goalloc1'), await freshDatabase('goalloc2'));
      for (const idx of [1, 2]) {
        const port = await freePort();
        const path = join(tmp(), 'alloc.json');
        writeFileSync(
          path,
          JSON.stringify({
            PartitionIdx: idx,
            TotalPartition: 2,
            SegmentSize: 1000,
            DSN: `root@tcp(127.0.0.1:3306)/${dbs[idx - 1].name}`,
            HttpPort: port,
            HttpReadTimeout: 5000,
            HttpWriteTimeout: 5000,
          }),
        );
        const server = ServerProcess.spawn({}, ['--config', path], port);
        await server.waitLive();
        servers.push(server);
      }
    }, 60_000);
    afterAll(async () => {
      await Promise.all(servers.map((s) => s.kill()));
      await Promise.all(dbs.map((d) => d.drop()));
    });

    it('two processes, partitions 1 and 2 of 2 in two databases: 100k /alloc ids, 0 duplicates', async () => {
      const perServer = new Map<string, string[]>();
      const result = await pullIds({
        urls: () => servers.map((s) => s.url),
        path: '/alloc',
        total: 100_000,
        batch: 1,
        concurrency: 32,
        deadlineMs: 240_000,
        pick: (body: { Errno: number; Id: number }) => {
          expect(body.Errno).toBe(0);
          return [String(body.Id)];
        },
      });
      expect(result.ids.length).toBeGreaterThanOrEqual(100_000);
      expect(duplicates(result.ids)).toEqual([]);
      expect(result.ids.every((id) => Number(id) >= 1)).toBe(true);
      // each process issues only from its own partition's segments: floor((id - 1) / 1000) % 2 == idx - 1
      for (const [i, server] of servers.entries()) {
        const res = await request(`${server.url}/alloc`);
        expect(Math.floor((res.body.Id - 1) / 1000) % 2).toBe(i);
        perServer.set(server.url, [String(res.body.Id)]);
      }
    }, 250_000);
  });

}

/** The partition and ticket outage suites, on MariaDB and on PostgreSQL. */
function serverOutageSuites(server: ServerUnderTest): void {
  describe(`one instance with partitions in two ${server.name} databases, one cut mid-load`, () => {
    let main: TestDatabase;
    const dbs: TestDatabase[] = [];
    let proxy: TcpProxy;
    let app: RunningApp;

    beforeAll(async () => {
      main = await server.open('partmain');
      dbs.push(await server.open('part1'), await server.open('part2'));
      proxy = await TcpProxy.start(server.host, server.port);
      const partitions = [
        { idx: 1, total: 2, url: throughProxy(dbs[0], server.port, proxy.port) },
        { idx: 2, total: 2, url: dbs[1].env.DATABASE_URL },
      ];
      app = await startApp(testConfig({ ...main.env, PARTITIONS: JSON.stringify(partitions), PARTITION_SEGMENT_SIZE: '500' }));
    });
    afterAll(async () => {
      await app?.close();
      await proxy?.close();
      await main?.drop();
      await Promise.all(dbs.map((d) => d.drop()));
    });

    it('keeps serving from the other partition with no operator step: 0 duplicates, readiness names the dead one', async () => {
      let cut = false;
      const result = await pullIds({
        urls: () => [app.url],
        path: '/ids/partition',
        total: 60_000,
        batch: 100,
        concurrency: 8,
        deadlineMs: 120_000,
        onProgress: async (n) => {
          if (!cut && n >= 20_000) {
            cut = true;
            await proxy.set('cut');
          }
        },
      });
      expect(cut).toBe(true);
      expect(result.ids.length).toBeGreaterThanOrEqual(60_000);
      expect(duplicates(result.ids)).toEqual([]);
      // after the cut every new segment comes from partition 2: segments 1, 3, 5, ... (size 500)
      const last = Number(result.ids.at(-1));
      expect(Math.floor((last - 1) / 500) % 2).toBe(1);
      const ready = await app.get('/health/ready');
      expect(ready.body.info.partition.partitions['1'].status).toBe('down');
      expect(ready.body.info.partition.partitions['2'].status).toBe('up');
      expect(ready.body.info.partition.status).toBe('up');
      await proxy.set('pass');
    }, 130_000);
  });

  describe(`ticket without its ${server.name} database`, () => {
    it('503 DATABASE_UNAVAILABLE, readiness 200 with the database part down, then recovers', async () => {
      const db = await server.open('ticketdown');
      const proxy = await TcpProxy.start(server.host, server.port);
      const app = await startApp(testConfig({ ...db.env, DATABASE_URL: throughProxy(db, server.port, proxy.port) }));
      try {
        expect((await app.get('/ids/ticket')).status).toBe(200);
        await proxy.set('cut');
        const res = await app.get('/ids/ticket?count=3');
        expect(res.status).toBe(503);
        expect(res.body.code).toBe('DATABASE_UNAVAILABLE');
        expect(res.headers.get('retry-after')).toBe('1');
        const ready = await app.get('/health/ready');
        expect(ready.body.info.ticket.database.status).toBe('down');
        expect(ready.body.error.ticket).toBeUndefined();
        await proxy.set('pass');
        let ok = false;
        for (let i = 0; i < 50 && !ok; i++) {
          ok = (await app.get('/ids/ticket')).status === 200;
          if (!ok) await sleep(100);
        }
        expect(ok).toBe(true);
      } finally {
        await app.close();
        await proxy.close();
        await db.drop();
      }
    }, 60_000);
  });
}

for (const server of serversUnderTest('partition and ticket outage tests')) serverOutageSuites(server);
