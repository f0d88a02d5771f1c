import Database from 'better-sqlite3';
import { request } from './support/app';
import { dialects, openDatabase, TestDatabase } from './support/dialects';
import { duplicates } from './support/load';
import { ServerProcess, sleep } from './support/process';

/**
 * Operator actions against two real server processes on one database: skips are exact and every
 * instance honours them within the stated time, a rollback only the other instance could see
 * halts, the runbook resumes a halted key and refuses a target below what a live instance
 * requires, a key cannot be re-created below its past, a public key is public from its first id.
 */
const ADMIN_TOKEN = 'operator-actions-admin-token';
const ID_SECRET = 'operator-actions-id-secret-0123456789';
const POLL_MS = 200;

describe.each(dialects())('operator actions on %s with two instances', (dialect) => {
  let db: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  const start = () =>
    ServerProcess.start({
      ...db.env,
      ADMIN_TOKEN,
      ID_SECRET,
      SEGMENT_POLL_MS: String(POLL_MS),
      SEGMENT_DYNAMIC_STEP: 'false',
      // small partition segments, so a restore shows within a few hundred ids
      PARTITION_SEGMENT_SIZE: '100',
      LOG_LEVEL: 'error',
    });
  const admin = (server: ServerProcess, method: string, path: string, body?: unknown) =>
    request(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const take = async (server: ServerProcess, key: string, count: number): Promise<string[]> => {
    const res = await request(`${server.url}/ids/segment?key=${key}&count=${count}`);
    if (res.status !== 200) throw Object.assign(new Error(`${res.status} ${res.text}`), { res });
    return res.body.ids;
  };
  const maxIdOf = async (key: string) =>
    BigInt(String((await db.query('SELECT max_id AS m FROM leaf_alloc WHERE biz_tag = ?', [key]))[0].m));
  /** until fn holds, bounded */
  const eventually = async (fn: () => Promise<boolean>, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await fn()) return true;
      await sleep(100);
    }
    return false;
  };

  beforeAll(async () => {
    db = await openDatabase(dialect, 'operator');
    a = await start();
    b = await start();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((s) => s.kill('SIGKILL')));
    await db?.drop();
  });

  it('skips are exact near 2^53 and 2^62 (no floating point anywhere)', async () => {
    const p53 = 2n ** 53n;
    expect((await admin(a, 'POST', '/admin/segments', { key: 'x53', startId: (p53 + 1n).toString(), step: 10 })).status).toBe(201);
    const by1 = await admin(a, 'POST', '/admin/segments/x53/skip', { by: '1' });
    expect(by1.status).toBe(200);
    expect(by1.body.maxId).toBe((p53 + 2n).toString());
    expect(await maxIdOf('x53')).toBe(p53 + 2n);
    expect((await take(b, 'x53', 1))[0]).toBe((p53 + 2n).toString());

    const p62 = 2n ** 62n + 12_345n;
    expect((await admin(a, 'POST', '/admin/segments', { key: 'x62', startId: p62.toString(), step: 10 })).status).toBe(201);
    const big = await admin(a, 'POST', '/admin/segments/x62/skip', { by: '100000001' });
    expect(big.body.maxId).toBe((p62 + 100_000_001n).toString());
    expect(await maxIdOf('x62')).toBe(p62 + 100_000_001n);
    const to = p62 + 987_654_321_987n;
    const skipTo = await admin(a, 'POST', '/admin/segments/x62/skip', { to: to.toString() });
    expect(skipTo.status).toBe(200);
    expect(await maxIdOf('x62')).toBe(to + 1n);
    expect((await take(a, 'x62', 1))[0]).toBe((to + 1n).toString());
  });

  it('after a skip to N, no instance issues an id <= N once appliedByAllWithinMs has passed', async () => {
    expect((await admin(a, 'POST', '/admin/segments', { key: 'sk', step: 1000 })).status).toBe(201);
    const before = [...(await take(a, 'sk', 5)), ...(await take(b, 'sk', 5))]; // both hold buffers
    const n = await maxIdOf('sk'); // every id either holds lies below this
    const skip = await admin(b, 'POST', '/admin/segments/sk/skip', { to: n.toString() });
    expect(skip.status).toBe(200);
    expect(skip.body.appliedByAllWithinMs).toBe(POLL_MS + 4250); // one statement's budget on one host
    await sleep(skip.body.appliedByAllWithinMs);
    const after = [...(await take(a, 'sk', 50)), ...(await take(b, 'sk', 50))];
    expect(after.every((id) => BigInt(id) > n)).toBe(true);
    expect(duplicates([...before, ...after])).toEqual([]);
  });

  it('a rollback only the other instance could see halts it; 0 duplicates (every id collected)', async () => {
    expect((await admin(a, 'POST', '/admin/segments', { key: 'fo', step: 100 })).status).toBe(201);
    const issued: string[] = [...(await take(b, 'fo', 1))]; // B holds [1, 101)
    await eventually(async () => (await admin(b, 'GET', '/admin/segments')).body.segments.find((s: any) => s.key === 'fo').buffer !== null);
    const snapshot = await snapshotOf('fo');
    for (let i = 0; i < 5; i++) issued.push(...(await take(a, 'fo', 100))); // A draws five more segments
    await sleep(3 * POLL_MS); // at least two poll periods: B has seen A's draws
    await snapshot.restore(); // failover to a copy taken before A's draws
    let halted: { status: number; body: any } | undefined;
    for (let i = 0; i < 200 && halted === undefined; i++) {
      try {
        issued.push(...(await take(b, 'fo', 10)));
      } catch (e) {
        halted = (e as { res: { status: number; body: any } }).res;
      }
    }
    expect(halted?.status).toBe(503);
    expect(halted?.body.message).toMatch(/rolled back/);
    expect(duplicates(issued)).toEqual([]);
    expect(issued.length).toBeGreaterThan(500);
  });

  it('the runbook resumes a halted key, refusing a target below what a live instance requires', async () => {
    expect((await admin(a, 'POST', '/admin/segments', { key: 'rb', step: 100 })).status).toBe(201);
    const issued: string[] = [...(await take(a, 'rb', 150)), ...(await take(b, 'rb', 30))];
    await sleep(2 * POLL_MS);
    const top = await maxIdOf('rb');
    await db.query('UPDATE leaf_alloc SET max_id = ? WHERE biz_tag = ?', [(top - 250n).toString(), 'rb']); // a restore that lagged
    // both polls read max_id below what they fetched: both halt, and publish what they require
    const bothHalted = await eventually(async () => {
      const codes = await Promise.all([a, b].map((s) => request(`${s.url}/ids/segment?key=rb`)));
      return codes.every((r) => r.status === 503 && /rolled back/.test(r.body.message));
    });
    expect(bothHalted).toBe(true);
    const highest = issued.map(BigInt).reduce((x, y) => (x > y ? x : y));
    let required = '';
    expect(
      await eventually(async () => {
        const seg = (await admin(a, 'GET', '/admin/segments')).body.segments.find((s: any) => s.key === 'rb');
        required = seg?.requiredSkipTarget ?? '';
        return required !== '';
      }),
    ).toBe(true);
    // 1 + the larger of the highest id an instance issued and the highest max_id it saw the other reach
    expect(BigInt(required)).toBeGreaterThan(highest);
    expect(BigInt(required)).toBeLessThanOrEqual(top + 1n);
    // each halted instance names the largest target any live instance requires (learnt on its poll)
    for (const s of [a, b]) {
      expect(await eventually(async () => (await request(`${s.url}/ids/segment?key=rb`)).body.message.includes(`N >= ${required}`))).toBe(true);
    }
    const tooLow = await admin(a, 'POST', '/admin/segments/rb/skip', { to: (BigInt(required) - 1n).toString() });
    expect(tooLow.status).toBe(400);
    expect(tooLow.body.code).toBe('SKIP_BACKWARDS');
    expect(tooLow.body.message).toContain(required);
    const ok = await admin(a, 'POST', '/admin/segments/rb/skip', { to: required });
    expect(ok.status).toBe(200);
    await sleep(ok.body.appliedByAllWithinMs);
    const resumed = [...(await take(a, 'rb', 20)), ...(await take(b, 'rb', 20))];
    expect(resumed.every((id) => BigInt(id) > BigInt(required))).toBe(true);
    expect(duplicates([...issued, ...resumed])).toEqual([]);
    for (const s of [a, b]) expect((await request(`${s.url}/health/ready`)).body.info.segment.keys.rb.status).toBe('up');
  });

  it('a key deleted and created again cannot start below its high-water mark', async () => {
    expect((await admin(a, 'POST', '/admin/segments', { key: 'rc', step: 100 })).status).toBe(201);
    const first = await take(a, 'rc', 150);
    await sleep(3 * POLL_MS); // the poll raises the mark
    await db.query('DELETE FROM leaf_alloc WHERE biz_tag = ?', ['rc']);
    const again = await admin(a, 'POST', '/admin/segments', { key: 'rc', step: 100 });
    expect(again.status).toBe(400);
    expect(again.body.code).toBe('INVALID_START');
    const smallest = /start at (\d+) or above/.exec(again.body.message)![1];
    expect(BigInt(smallest)).toBeGreaterThan(BigInt(first[first.length - 1]));
    expect((await admin(a, 'POST', '/admin/segments', { key: 'rc', step: 100, startId: smallest })).status).toBe(201);
    await sleep(6000); // a's memory of the missing key (5 s) passes
    const later = await take(b, 'rc', 10);
    expect(later.every((id) => BigInt(id) >= BigInt(smallest))).toBe(true);
  }, 30_000);

  it('a key deleted within one poll period of its fetches and created again starts above every id issued: each fetch raises the mark', async () => {
    // two more instances whose polls are a minute apart, with a margin of one step: only the
    // fetches themselves can have raised the mark before the key is deleted
    const slow = () =>
      ServerProcess.start({
        ...db.env,
        ADMIN_TOKEN,
        ID_SECRET,
        SEGMENT_POLL_MS: '60000',
        SEGMENT_DYNAMIC_STEP: 'false',
        SEGMENT_STEP_MAX: '10',
        LOG_LEVEL: 'error',
      });
    const servers: ServerProcess[] = [];
    try {
      servers.push(await slow(), await slow());
      const [c, d] = servers;
      expect((await admin(c, 'POST', '/admin/segments', { key: 'rw', step: 10 })).status).toBe(201);
      // many fetches (count above the step, preloads, both instances) within one poll period
      const issued = [...(await take(c, 'rw', 95)), ...(await take(d, 'rw', 35)), ...(await take(c, 'rw', 5))];
      const highest = issued.map(BigInt).reduce((x, y) => (x > y ? x : y));
      expect(highest).toBeGreaterThanOrEqual(135n);
      await db.query('DELETE FROM leaf_alloc WHERE biz_tag = ?', ['rw']); // by hand: the service sees nothing
      const again = await admin(c, 'POST', '/admin/segments', { key: 'rw', step: 10, startId: '1' });
      expect(again.status).toBe(400);
      expect(again.body.code).toBe('INVALID_START');
      const smallest = BigInt(/start at (\d+) or above/.exec(again.body.message)![1]);
      expect(smallest).toBeGreaterThan(highest);
      expect((await admin(d, 'POST', '/admin/segments', { key: 'rw', step: 10, startId: smallest.toString() })).status).toBe(201);
      // c and d may still hand out what they fetched from the old row and never issued; a new
      // instance draws from the new row only
      const later = [...(await take(c, 'rw', 30)), ...(await take(d, 'rw', 30))];
      servers.push(await slow());
      const fresh = await take(servers[2], 'rw', 30);
      expect(fresh.every((id) => BigInt(id) >= smallest)).toBe(true);
      expect(duplicates([...issued, ...later, ...fresh])).toEqual([]);
    } finally {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
    }
  }, 60_000);

  it('a public key is public from its first id, even while another instance asks for it during the create', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const key = `pub${i}`;
      let stop = false;
      const asking = (async () => {
        while (!stop) {
          const res = await request(`${b.url}/ids/segment?key=${key}&count=5`);
          if (res.status === 200) ids.push(...res.body.ids);
          await sleep(5);
        }
      })();
      expect((await admin(a, 'POST', '/admin/segments', { key, step: 100, public: true })).status).toBe(201);
      await eventually(async () => ids.length >= (i + 1) * 5, 15_000);
      stop = true;
      await asking;
    }
    expect(ids.length).toBeGreaterThanOrEqual(25);
    // plain ids of a new key are 1, 2, 3...; FF1 over 63 bits puts every public id far above
    expect(ids.every((id) => BigInt(id) > 2n ** 32n)).toBe(true);
    expect(duplicates(ids)).toEqual([]);
  }, 90_000);

  // Last in the file: on SQLite the restore puts back the whole database file.
  it('partition: after a restore, a skip below ids an instance issued or saw drawn is refused, naming the smallest; the named one resumes both; 0 duplicates', async () => {
    const takeP = async (server: ServerProcess, count: number): Promise<string[]> => {
      const res = await request(`${server.url}/ids/partition?count=${count}`);
      if (res.status !== 200) throw Object.assign(new Error(`${res.status} ${res.text}`), { res });
      return res.body.ids;
    };
    const issued: string[] = [...(await takeP(a, 150)), ...(await takeP(b, 30))];
    const snapshot = await partitionSnapshot();
    for (let i = 0; i < 6; i++) issued.push(...(await takeP(a, 100))); // A draws six more segments
    await sleep(3 * POLL_MS); // B has polled them
    await snapshot.restore(); // back to before A's draws, under both processes
    // each halts once it asks the database for a segment and gets one below its guard; each is
    // drained on its own (a halted one answers only after its wait, which must not pace the other)
    const halts = await Promise.all(
      [a, b].map((s) =>
        eventually(async () => {
          const r = await request(`${s.url}/ids/partition?count=50`);
          if (r.status === 200) issued.push(...r.body.ids);
          return r.status === 503;
        }, 60_000),
      ),
    );
    expect(halts).toEqual([true, true]);
    const highest = issued.map(BigInt).reduce((x, y) => (x > y ? x : y));
    // the number an operator may find in a stale record: above the restored counter, below what was issued
    const careless = highest - 300n;
    for (const s of [b, a]) {
      const refused = await admin(s, 'POST', '/admin/partitions/1/skip', { to: careless.toString() });
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe('SKIP_BACKWARDS');
    }
    const refused = await admin(b, 'POST', '/admin/partitions/1/skip', { to: careless.toString() });
    const named = BigInt(/use \{"to": (\d+)\}/.exec(refused.body.message)![1]);
    expect(named).toBeGreaterThanOrEqual(highest);
    const ok = await admin(b, 'POST', '/admin/partitions/1/skip', { to: named.toString() });
    expect(ok.status).toBe(200);
    await sleep(ok.body.appliedByAllWithinMs);
    const resumed: string[] = [];
    expect(
      await eventually(async () => {
        for (const s of [a, b]) {
          const r = await request(`${s.url}/ids/partition?count=20`);
          if (r.status === 200) resumed.push(...r.body.ids);
        }
        return resumed.length >= 40;
      }),
    ).toBe(true);
    expect(resumed.every((id) => BigInt(id) > named)).toBe(true);
    expect(duplicates([...issued, ...resumed])).toEqual([]);
    expect(issued.length + resumed.length).toBeGreaterThan(800);
  }, 90_000);

  /** partition 1's counter now, put back later under the running processes (a restore that lost allocations) */
  async function partitionSnapshot(): Promise<{ restore: () => Promise<void> }> {
    if (dialect === 'sqlite') return snapshotOf('partition');
    const [row] = await db.query('SELECT MAX(id) AS m FROM partition_1');
    const saved = BigInt(String(row.m));
    if (dialect === 'postgres') {
      return {
        restore: async () => {
          await db.query('DELETE FROM partition_1');
          await db.query(`SELECT setval(pg_get_serial_sequence('partition_1', 'id'), ${saved})`);
          await db.query('INSERT INTO partition_1 (id, meanless) VALUES (?, 0)', [saved.toString()]);
        },
      };
    }
    return {
      restore: async () => {
        await db.query('DELETE FROM partition_1');
        await db.query(`ALTER TABLE partition_1 AUTO_INCREMENT = ${saved}`);
        await db.query('INSERT INTO partition_1 (id, meanless) VALUES (?, 0)', [saved.toString()]);
      },
    };
  }

  /** a copy of the key's state taken now, restored later under the running processes */
  async function snapshotOf(key: string): Promise<{ restore: () => Promise<void> }> {
    if (dialect !== 'sqlite') {
      const saved = await maxIdOf(key);
      return { restore: async () => void (await db.query('UPDATE leaf_alloc SET max_id = ? WHERE biz_tag = ?', [saved.toString(), key])) };
    }
    // SQLite: the online backup API, out to a file and later back into the live file (never a
    // file copy under open connections)
    const live = db.env.SQLITE_PATH;
    const copy = `${live}.backup`;
    const source = new Database(live);
    await source.backup(copy);
    source.close();
    return {
      restore: async () => {
        const backup = new Database(copy);
        await backup.backup(live);
        backup.close();
      },
    };
  }
});
