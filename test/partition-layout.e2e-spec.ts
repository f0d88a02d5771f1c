import Database from 'better-sqlite3';
import { dirname, join } from 'node:path';
import { request } from './support/app';
import { serversUnderTest, sqliteDatabase, TestDatabase } from './support/dialects';
import { duplicates } from './support/load';
import { freePort, ServerProcess, sleep } from './support/process';

/*
 * The partition layout is recorded in every partition database and cannot silently change;
 * re-base, skips and rollbacks are seen by every instance through its poll. Real processes,
 * every id collected.
 */

const ADMIN_TOKEN = 'partition-admin-token-0123456789';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const POLL_MS = 200;

/** up to `count` ids from one server in batches, stopping at the first refusal */
async function draw(url: string, count: number, batch = 100): Promise<{ ids: string[]; refusal?: { status: number; body: any } }> {
  const ids: string[] = [];
  while (ids.length < count) {
    const res = await request(`${url}/ids/partition?count=${Math.min(batch, count - ids.length)}`);
    if (res.status !== 200) return { ids, refusal: { status: res.status, body: res.body } };
    ids.push(...res.body.ids);
  }
  return { ids };
}

/** draws until the server refuses (bounded), keeping every id it issued */
async function drawUntilRefused(url: string, limit: number): Promise<{ ids: string[]; refusal?: { status: number; body: any } }> {
  return draw(url, limit, 100);
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

async function refusedStart(env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
  const server = ServerProcess.spawn(env, [], await freePort());
  const exit = await server.exited;
  return { code: exit.code, lines: server.output.trim().split('\n') };
}


/**
 * The runbook's skip of partition 1, sent to one instance, past every id collected. An instance
 * that saw another draw a segment it never issued from (fetched, then halted) requires a target
 * above that segment too, and the refusal names it: the runbook then takes the named target.
 */
async function skipPastAll(url: string, ids: string[]) {
  const highest = ids.reduce((m, id) => (BigInt(id) > m ? BigInt(id) : m), 0n);
  const skipTo = (to: bigint) => request(`${url}/admin/partitions/1/skip`, { method: 'POST', headers: auth, body: JSON.stringify({ to: to.toString() }) });
  let skip = await skipTo(highest);
  if (skip.status === 400 && skip.body.code === 'SKIP_BACKWARDS') {
    const named = /use \{"to": (\d+)\}/.exec(skip.body.message)?.[1];
    expect([named !== undefined, BigInt(named ?? 0) > highest]).toEqual([true, true]);
    skip = await skipTo(BigInt(named!));
  }
  expect([skip.status, skip.body.code]).toEqual([200, undefined]);
  expect(BigInt(skip.body.nextSegmentStart)).toBeGreaterThan(highest);
  return { highest, skip };
}

/** two instances halted by a restore under them; one skip, sent to one of them, resumes both */
async function skipResumesEveryInstance<T>(
  dbEnv: Record<string, string>,
  servers: ServerProcess[],
  backup: { save: () => Promise<T>; restore: (copy: T) => Promise<void> },
): Promise<void> {
  // segments of 1000: each instance's next fetch, the one that meets the restore, comes within the draw
  const env = { ...dbEnv, ADMIN_TOKEN, SEGMENT_POLL_MS: String(POLL_MS), PARTITION_SEGMENT_SIZE: '1000' };
  const [a, b] = await Promise.all([ServerProcess.start(env), ServerProcess.start(env)]);
  servers.push(a, b);
  const ids: string[] = [];
  ids.push(...(await draw(a.url, 1500)).ids, ...(await draw(b.url, 1500)).ids);
  const copy = await backup.save();
  ids.push(...(await draw(a.url, 3000)).ids, ...(await draw(b.url, 3000)).ids);
  await backup.restore(copy);
  const halted = await Promise.all([drawUntilRefused(a.url, 20_000), drawUntilRefused(b.url, 20_000)]);
  for (const h of halted) {
    ids.push(...h.ids);
    expect(h.refusal?.status).toBe(503);
  }
  expect(duplicates(ids)).toEqual([]);
  const { highest, skip } = await skipPastAll(b.url, ids);
  expect(skip.body.appliedByAllWithinMs).toBe(POLL_MS + 4250); // one statement's budget on one host
  for (const server of [a, b]) {
    const first = await eventually(`${server.url} resumes`, async () => {
      const res = await request(`${server.url}/ids/partition`);
      return res.status === 200 ? (res.body.ids as string[]) : undefined;
    });
    expect(BigInt(first[0])).toBeGreaterThan(highest);
    ids.push(...first);
  }
  const after = [...(await draw(a.url, 2000)).ids, ...(await draw(b.url, 2000)).ids];
  expect(after).toHaveLength(4000);
  expect(after.every((id) => BigInt(id) > highest)).toBe(true);
  ids.push(...after);
  expect(duplicates(ids)).toEqual([]);
  console.log(`skip resumes every instance (${dbEnv.DB_TYPE}): ${ids.length} ids collected, 0 duplicates`);
}

describe('the embedded default records its layout: restarting with another one is refused, not a repeat', () => {
  let db: TestDatabase;
  afterAll(() => db?.drop());

  it('P = 1 drawn (the new layout records 100,000 ids a segment), then PARTITION_SEGMENT_SIZE=500: exit 2 with one line naming partition 1, stored and configured', async () => {
    db = await sqliteDatabase();
    const first = await ServerProcess.start({ ...db.env });
    const before = await draw(first.url, 3000);
    expect(before.ids).toHaveLength(3000);
    await first.kill();

    const refused = await refusedStart({ ...db.env, PARTITION_SEGMENT_SIZE: '500' });
    expect(refused.code).toBe(2);
    expect(refused.lines).toHaveLength(1);
    expect(refused.lines[0]).toMatch(
      /^id-allocator: cannot start: partition 1: stored layout total 1, segment size 100000, base 1, version 1, layout id [0-9a-f]{32}, recorded for partition 1; configured: partition 1 of total 1, segment size 500/,
    );

    // the same layout starts again and continues above everything drawn before
    const again = await ServerProcess.start({ ...db.env });
    const after = await draw(again.url, 3000);
    await again.kill();
    const all = [...before.ids, ...after.ids];
    expect(all).toHaveLength(6000);
    expect(duplicates(all)).toEqual([]);
  }, 60_000);
});

describe('partition skip on SQLite: two processes on one file', () => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await db?.drop();
  });

  it('both halted by a restore through the online backup API into the live file; a skip sent to one resumes both', async () => {
    db = await sqliteDatabase();
    const live = db.env.SQLITE_PATH;
    const copyPath = join(dirname(live), 'copy.sqlite');
    await skipResumesEveryInstance(db.env, servers, {
      save: async () => {
        const source = new Database(live);
        await source.backup(copyPath);
        source.close();
        return copyPath;
      },
      restore: async (path) => {
        const copy = new Database(path);
        await copy.backup(live);
        copy.close();
      },
    });
  }, 120_000);
});

for (const server of serversUnderTest('partition layout tests')) layoutSuite(server.name, server.open);

/** layouts, re-base and skips on a server database (two of them for two partitions) */
function layoutSuite(name: string, open: (tag: string) => Promise<TestDatabase>): void {
  describe(`layouts on ${name}`, () => {
    let main: TestDatabase;
    let other: TestDatabase;
    const servers: ServerProcess[] = [];
    beforeEach(async () => {
      main = await open('layoutmain');
      other = await open('layout2');
    });
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => s.kill()));
      await main.drop();
      await other.drop();
    });

    /** partitions 1 (the main database) and 2 (the other) of 2 */
    const twoPartitions = () =>
      JSON.stringify([
        { idx: 1, total: 2, url: main.env.DATABASE_URL },
        { idx: 2, total: 2, url: other.env.DATABASE_URL },
      ]);
    /** start with PARTITIONS=twoPartitions() must exit 2 with one line matching `line` */
    async function refusedWithTwo(line: RegExp): Promise<void> {
      const refused = await refusedStart({ ...main.env, PARTITIONS: twoPartitions() });
      expect(refused.code).toBe(2);
      expect(refused.lines).toHaveLength(1);
      expect(refused.lines[0]).toMatch(line);
    }
    async function layoutRowsInOther(): Promise<number> {
      return Number((await other.query('SELECT COUNT(*) AS n FROM partition_layout'))[0].n);
    }

    it('two partitions on fresh databases with PARTITION_SEGMENT_SIZE unset: exit 2 with one line, nothing recorded', async () => {
      await refusedWithTwo(/^id-allocator: cannot start: partitions 1, 2 of 2: no layout is recorded yet, and PARTITION_SEGMENT_SIZE is unset/);
      const onMain = await main.query('SELECT COUNT(*) AS n FROM partition_layout');
      expect(Number(onMain[0].n)).toBe(0);
      expect(await layoutRowsInOther()).toBe(0);
      // named, it records that size in both
      const named = await ServerProcess.start({ ...main.env, PARTITIONS: twoPartitions(), PARTITION_SEGMENT_SIZE: '2000' });
      servers.push(named);
      const ready = await request(`${named.url}/health/ready`);
      expect(ready.body.info.partition).toMatchObject({ total: 2, segmentSize: 2000 });
    }, 60_000);

    it('P = 1 on the main database drawn, then two partitions: refused with the one line, and so is moving partition 1 away', async () => {
      const first = await ServerProcess.start({ ...main.env });
      expect((await draw(first.url, 2000)).ids).toHaveLength(2000);
      await first.kill();

      await refusedWithTwo(/^id-allocator: cannot start: partition 1: stored layout total 1, segment size 100000, .*configured: partition 1 of total 2, segment size as recorded/);
      // the refusal wrote nothing into the second database
      expect(await layoutRowsInOther()).toBe(0);

      const moved = await refusedStart({ ...main.env, PARTITIONS: JSON.stringify([{ idx: 1, total: 1, url: other.env.DATABASE_URL }]) });
      expect(moved.code).toBe(2);
      expect(moved.lines).toHaveLength(1);
      expect(moved.lines[0]).toMatch(/^id-allocator: cannot start: partition 1: the main database records it \(total 1, segment size 100000, layout id [0-9a-f]{32}\), but the configuration places it in another database/);
    }, 90_000);

    it('re-base from P = 1 (size 1000) to P = 2 (size 500) under load from two instances: 0 duplicates', async () => {
      const oldEnv = { ...main.env, ADMIN_TOKEN, SEGMENT_POLL_MS: String(POLL_MS), PARTITION_SEGMENT_SIZE: '1000' };
      const [a, b] = await Promise.all([ServerProcess.start(oldEnv), ServerProcess.start(oldEnv)]);
      servers.push(a, b);
      const before = await Promise.all([draw(a.url, 5000), draw(b.url, 5000)]);
      const ids = before.flatMap((d) => d.ids);
      expect(ids).toHaveLength(10_000);

      const wrongTotal = await request(`${a.url}/admin/partitions/rebase`, { method: 'POST', headers: auth, body: JSON.stringify({ total: 2 }) });
      expect(wrongTotal.status).toBe(400);
      expect(wrongTotal.body.message).toMatch(/partition\(s\) 2 of the old or new layout are not held here/);

      const rebase = await request(`${a.url}/admin/partitions/rebase`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ total: 2, segmentSize: 500, partitions: [{ idx: 2, url: other.env.DATABASE_URL }] }),
      });
      expect(rebase.status).toBe(200);
      expect(rebase.body).toMatchObject({ version: 2, total: 2, segmentSize: 500 });
      expect(rebase.text).not.toContain(other.env.DATABASE_URL);
      const base = BigInt(rebase.body.base);
      expect(ids.every((id) => BigInt(id) < base)).toBe(true);

      // the old instances issue what they hold, then refuse: they draw nothing more under the old layout
      const drained = await Promise.all([drawUntilRefused(a.url, 20_000), drawUntilRefused(b.url, 20_000)]);
      for (const d of drained) {
        expect(d.refusal?.status).toBe(503);
        ids.push(...d.ids);
      }
      const ready = await request(`${b.url}/health/ready`);
      expect(ready.body.info?.partition?.partitions?.['1']?.reason ?? ready.body.error?.partition?.partitions?.['1']?.reason).toMatch(
        /layout version 2 is recorded/,
      );

      // the old configuration is now refused; the new one starts and draws above the base
      const old = await refusedStart({ ...main.env });
      expect(old.code).toBe(2);
      expect(old.lines[0]).toMatch(/partition 1: stored layout total 2, segment size 500, base \d+, version 2/);
      const newEnv = (first: number) => ({
        ...main.env,
        PARTITION_SEGMENT_SIZE: '500',
        PARTITIONS: JSON.stringify(
          [
            { idx: 1, total: 2, url: main.env.DATABASE_URL },
            { idx: 2, total: 2, url: other.env.DATABASE_URL },
          ].sort((x) => (x.idx === first ? -1 : 1)),
        ),
      });
      const [c, d] = await Promise.all([ServerProcess.start(newEnv(1)), ServerProcess.start(newEnv(2))]);
      servers.push(c, d);
      const after = await Promise.all([draw(c.url, 5000), draw(d.url, 5000)]);
      const newIds = after.flatMap((x) => x.ids);
      expect(newIds).toHaveLength(10_000);
      expect(newIds.every((id) => BigInt(id) >= base)).toBe(true);
      ids.push(...newIds);
      expect(duplicates(ids)).toEqual([]);
      console.log(`re-base: ${ids.length} ids collected (old layout ${ids.length - newIds.length}, new ${newIds.length}), base ${base}, 0 duplicates`);
    }, 180_000);

    /** a copy of partition 1's counter, restored later under the running processes */
    async function saveCounter(): Promise<bigint> {
      const rows = await main.query('SELECT MAX(id) AS id FROM partition_1');
      return BigInt(String(rows[0].id));
    }
    async function restoreCounter(id: bigint): Promise<void> {
      await main.query('DELETE FROM partition_1');
      if (main.dialect === 'postgres') {
        await main.query('INSERT INTO partition_1 (id, meanless) VALUES (CAST(? AS bigint), 0)', [id.toString()]);
        await main.query(`SELECT setval(pg_get_serial_sequence('partition_1', 'id'), ${id})`);
        return;
      }
      await main.query('INSERT INTO partition_1 (id, meanless) VALUES (CAST(? AS SIGNED), 0)', [id.toString()]);
      await main.query(`ALTER TABLE partition_1 AUTO_INCREMENT = ${id + 1n}`);
    }

    it('a rollback seen only through the poll halts the other instance; one skip through one instance resumes both', async () => {
      const env = { ...main.env, ADMIN_TOKEN, SEGMENT_POLL_MS: String(POLL_MS), SEGMENT_PRELOAD: '0.9', PARTITION_SEGMENT_SIZE: '1000' };
      const [a, b] = await Promise.all([ServerProcess.start(env), ServerProcess.start(env)]);
      servers.push(a, b);
      const ids: string[] = [];
      // B holds a buffer: one fetch, one id issued
      ids.push(...(await draw(b.url, 1, 1)).ids);
      const copy = await saveCounter();
      // A draws five more segments; B sees them only on its poll
      ids.push(...(await draw(a.url, 5000)).ids);
      await sleep(POLL_MS * 3);
      await restoreCounter(copy); // the failover to the copy, two poll periods after A's draws
      // B's next fetch would start exactly at its own watermark: only what its poll observed halts it
      const fromB = await drawUntilRefused(b.url, 20_000);
      ids.push(...fromB.ids);
      expect(fromB.refusal?.status).toBe(503);
      expect(fromB.refusal?.body.message).toMatch(/rolled back|halted/);
      const readyB = await request(`${b.url}/health/ready`);
      expect(JSON.stringify(readyB.body)).toMatch(/rolled back: its database went back to id \d+, below \d+ already fetched or seen here/);
      const fromA = await drawUntilRefused(a.url, 20_000);
      ids.push(...fromA.ids);
      expect(fromA.refusal?.status).toBe(503);
      expect(duplicates(ids)).toEqual([]);

      // the runbook: one skip, sent to A only, past every id issued
      const { highest } = await skipPastAll(a.url, ids);
      // B observes the skip counter on its poll and resumes above the target
      const resumed = await eventually('B resumes after the skip sent to A', async () => {
        const res = await request(`${b.url}/ids/partition?count=10`);
        return res.status === 200 ? (res.body.ids as string[]) : undefined;
      });
      const more = [...resumed, ...(await draw(b.url, 2000)).ids, ...(await draw(a.url, 2000)).ids];
      expect(more.every((id) => BigInt(id) > highest)).toBe(true);
      ids.push(...more);
      expect(duplicates(ids)).toEqual([]);
      console.log(`rollback via poll + skip: ${ids.length} ids collected from 2 instances, 0 duplicates; skip target ${highest}`);
    }, 120_000);

    it('a skip resumes every instance: both halted by a restore, the skip sent to one', async () => {
      await skipResumesEveryInstance(main.env, servers, { save: saveCounter, restore: restoreCounter });
    }, 120_000);
  });
}
