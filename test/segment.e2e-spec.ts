import { isDeepStrictEqual } from 'node:util';
import { loadConfig } from '@app/core';
import { dataSourceOptions, newDataSource, openSqlPool, runMigrations, sqliteWriterFor } from '@app/database';
import { segmentStoreFor } from '@app/segment';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';
import { dialects, openDatabase, TestDatabase } from './support/dialects';

const ADMIN_TOKEN = 'segment-admin-token-0123';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const MAX = 9223372036854775807n;

describe.each(dialects())('segment strategy on %s', (dialect) => {
  let db: TestDatabase;
  let app: RunningApp;

  const admin = (method: string, path: string, body?: unknown) =>
    app.get(path, { method, headers: auth, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const ids = async (query: string) => {
    const res = await app.get(`/ids/segment?${query}`);
    if (res.status !== 200) throw new Error(`${res.status} ${res.text}`);
    return res.body.ids as string[];
  };
  const tableRows = () => db.query(`SELECT biz_tag, CAST(max_id AS ${db.dialect === 'mysql' ? 'CHAR' : 'TEXT'}) AS max_id, step, description FROM leaf_alloc ORDER BY biz_tag`);
  /**
   * The table once it holds still: a refill the app started before (a preload after the last
   * test's skip) may still be committing, off the event loop, and is not the request's doing.
   */
  const quietRows = async () => {
    let last = await tableRows();
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await tableRows();
      if (isDeepStrictEqual(now, last)) return now;
      last = now;
    }
    throw new Error('the segment table kept changing for 5 s with no requests');
  };

  beforeAll(async () => {
    db = await openDatabase(dialect, 'segment');
    app = await startApp(testConfig({ ...db.env, ADMIN_TOKEN, SEGMENT_DYNAMIC_STEP: 'false', SEGMENT_WAIT_MS: '1000' }));
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('serves the seeded key `default` from 1, in order', async () => {
    const first = await ids('count=5');
    expect(first).toEqual(['1', '2', '3', '4', '5']);
    expect(await ids('key=default')).toEqual(['6']);
  });

  it('answers an unknown key 404 UNKNOWN_KEY', async () => {
    const res = await app.get('/ids/segment?key=missing');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('UNKNOWN_KEY');
  });

  it('creates, lists, patches and skips keys through the admin API', async () => {
    const created = await admin('POST', '/admin/segments', { key: 'orders', startId: '5000', step: 100, description: 'orders' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ key: 'orders', maxId: '5000', step: 100, description: 'orders', public: false });
    expect(await ids('key=orders&count=3')).toEqual(['5000', '5001', '5002']);

    const listed = await admin('GET', '/admin/segments');
    const orders = listed.body.segments.find((s: { key: string }) => s.key === 'orders');
    expect(orders.buffer).toMatchObject({ current: { start: '5000', end: '5100', next: '5003' }, stepInUse: 100, ready: true });

    const patched = await admin('PATCH', '/admin/segments/orders', { step: 200, description: null });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ step: 200, description: null });

    const skipped = await admin('POST', '/admin/segments/orders/skip', { to: '99999' });
    expect(skipped.status).toBe(200);
    const after = await ids('key=orders&count=200');
    expect(BigInt(after.at(-1)!)).toBeGreaterThanOrEqual(100000n);
    const by = await admin('POST', '/admin/segments/orders/skip', { by: 1000000 });
    expect(BigInt(by.body.maxId)).toBeGreaterThan(1_000_000n);

  });

  it('a skip that would move back names the value sent and the smallest accepted, which is accepted', async () => {
    // a key nothing draws from: its max_id stays where it was created
    expect((await admin('POST', '/admin/segments', { key: 'idle', startId: '500' })).status).toBe(201);
    const back = await admin('POST', '/admin/segments/idle/skip', { to: 10 });
    expect(back.status).toBe(400);
    expect(back.body).toMatchObject({
      code: 'SKIP_BACKWARDS',
      message: 'key "idle" already issues from 500; {"to": 10} would move it back (skips only move ahead): the smallest accepted is {"to": 500}',
    });
    const smallest = await admin('POST', '/admin/segments/idle/skip', { to: 500 });
    expect(smallest.status).toBe(200);
    expect(smallest.body.maxId).toBe('501');
  });

  describe('bad input on every admin route: a clear 4xx with its code, nothing changed', () => {
    it.each([
      ['POST', '/admin/segments', { key: 'default' }, 409, 'KEY_EXISTS'],
      ['POST', '/admin/segments', {}, 400, 'INVALID_KEY'],
      ['POST', '/admin/segments', { key: 'bad key' }, 400, 'INVALID_KEY'],
      ['POST', '/admin/segments', { key: 'x'.repeat(129) }, 400, 'INVALID_KEY'],
      ['POST', '/admin/segments', { key: 'n1', step: 0 }, 400, 'INVALID_STEP'],
      ['POST', '/admin/segments', { key: 'n1', step: 1.5 }, 400, 'INVALID_STEP'],
      ['POST', '/admin/segments', { key: 'n1', step: '100' }, 400, 'INVALID_STEP'],
      ['POST', '/admin/segments', { key: 'n1', step: 2_000_000 }, 400, 'INVALID_STEP'],
      ['POST', '/admin/segments', { key: 'n1', startId: 0 }, 400, 'INVALID_START'],
      ['POST', '/admin/segments', { key: 'n1', startId: -5 }, 400, 'INVALID_START'],
      ['POST', '/admin/segments', { key: 'n1', startId: 'abc' }, 400, 'INVALID_START'],
      ['POST', '/admin/segments', { key: 'n1', startId: 2 ** 60 }, 400, 'INVALID_START'],
      ['POST', '/admin/segments', { key: 'n1', startId: MAX.toString() }, 400, 'INVALID_START'],
      ['POST', '/admin/segments', { key: 'n1', startId: (MAX - 10n).toString(), step: 100 }, 400, 'INVALID_START'],
      ['POST', '/admin/segments', { key: 'n1', description: 'd'.repeat(257) }, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments', { key: 'n1', colour: 'red' }, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments', { key: 'n1', step: 0, startId: 0 }, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments', [1, 2], 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments', '{"key": ', 400, 'VALIDATION_FAILED'],
      ['PATCH', '/admin/segments/default', {}, 400, 'VALIDATION_FAILED'],
      ['PATCH', '/admin/segments/default', { step: -1 }, 400, 'INVALID_STEP'],
      ['PATCH', '/admin/segments/default', { maxId: '1' }, 400, 'VALIDATION_FAILED'],
      ['PATCH', '/admin/segments/nokey', { step: 10 }, 404, 'UNKNOWN_KEY'],
      ['PATCH', '/admin/segments/bad%20key', { step: 10 }, 400, 'INVALID_KEY'],
      ['POST', '/admin/segments/default/skip', {}, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments/default/skip', { by: 5, to: 5 }, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments/default/skip', { by: 0 }, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments/default/skip', { by: -3 }, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments/default/skip', { to: 1 }, 400, 'SKIP_BACKWARDS'],
      ['POST', '/admin/segments/default/skip', { by: MAX.toString() }, 400, 'VALIDATION_FAILED'],
      ['POST', '/admin/segments/nokey/skip', { by: 5 }, 404, 'UNKNOWN_KEY'],
      ['POST', '/admin/segments/bad%20key/skip', { by: 5 }, 400, 'INVALID_KEY'],
    ])('%s %s %j: %i %s', async (method, path, body, status, code) => {
      const before = await quietRows();
      const res = await admin(method as string, path as string, body);
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ statusCode: status, code, message: expect.any(String) });
      if (code === 'VALIDATION_FAILED') expect(res.body.details).toEqual(expect.any(Array));
      expect(await tableRows()).toEqual(before);
    });

    it('without the token: 401, nothing changed', async () => {
      const before = await quietRows();
      const res = await app.get('/admin/segments', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'sneaky' }),
      });
      expect(res.status).toBe(401);
      expect(await tableRows()).toEqual(before);
    });
  });

  it('near 2^63-1: issues up to the limit, then 409 ID_SPACE_EXHAUSTED (no Retry-After), never a wrapped id', async () => {
    const start = MAX - 250n;
    expect((await admin('POST', '/admin/segments', { key: 'top', startId: start.toString(), step: 100 })).status).toBe(201);
    const got: string[] = [];
    let last;
    for (let i = 0; i < 10; i++) {
      last = await app.get('/ids/segment?key=top&count=50');
      if (last.status !== 200) break;
      got.push(...last.body.ids);
    }
    expect(last!.status).toBe(409);
    expect(last!.body.code).toBe('ID_SPACE_EXHAUSTED');
    expect(last!.headers.get('retry-after')).toBeNull();
    expect(got).toHaveLength(200); // two whole steps fit; a third would pass 2^63-1
    expect(got[0]).toBe(start.toString());
    expect(got.at(-1)).toBe((start + 199n).toString());
    expect(new Set(got).size).toBe(got.length);
    const [row] = await db.query("SELECT max_id FROM leaf_alloc WHERE biz_tag = 'top'");
    expect(String(row.max_id)).toBe((start + 200n).toString()); // the refused fetch changed nothing
  });

  it('200 concurrent fetches straight against the store: 200 disjoint ranges', async () => {
    const config = loadConfig({ env: { ...db.env } });
    const ds = await newDataSource(dataSourceOptions(config)).initialize();
    try {
      await runMigrations(ds);
      const pool = config.DB_TYPE === 'sqlite' ? null : openSqlPool(config.DATABASE_URL!);
      const writer = pool === null ? sqliteWriterFor(ds) : null;
      const store = await segmentStoreFor(config, ds, pool, writer);
      const maxIds = await Promise.all(Array.from({ length: 200 }, () => store.fetch('default', 1000)));
      await writer?.close();
      const starts = maxIds.map((m) => m - 1000n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(1000n);
      expect(new Set(maxIds.map(String)).size).toBe(200);
      await pool?.end();
    } finally {
      await ds.destroy();
    }
  });

  it('rollback for real: refused and named down in readiness, resumes above everything issued after a skip', async () => {
    expect((await admin('POST', '/admin/segments', { key: 'rb', step: 100 })).status).toBe(201);
    const issued: string[] = [...(await ids('key=rb&count=150'))];
    // what the instance fetched, once its preload has landed (two readings apart agree)
    const readMax = async () =>
      BigInt(String((await db.query("SELECT max_id FROM leaf_alloc WHERE biz_tag = 'rb'"))[0].max_id));
    let watermark = await readMax();
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const again = await readMax();
      if (again === watermark) break;
      watermark = again;
    }
    // a restore from a backup that lagged: max_id back below what this instance fetched
    await db.query("UPDATE leaf_alloc SET max_id = ? WHERE biz_tag = 'rb'", [(watermark - 50n).toString()]);
    let refused;
    for (let i = 0; i < 40; i++) {
      const res = await app.get('/ids/segment?key=rb&count=10');
      if (res.status !== 200) {
        refused = res;
        break;
      }
      issued.push(...res.body.ids);
    }
    expect(refused?.status).toBe(503);
    expect(refused?.body.code).toBe('SEGMENT_UNAVAILABLE');
    expect(refused?.body.message).toMatch(/rolled back/);
    const ready = await app.get('/health/ready');
    expect(ready.status).toBe(200); // a shared trouble: every instance would see it
    expect(ready.body.info.segment.keys.rb).toMatchObject({ status: 'down', reason: expect.stringMatching(/rolled back/) });
    expect(issued.every((id) => BigInt(id) < watermark)).toBe(true);

    const highest = issued.map(BigInt).reduce((a, b) => (a > b ? a : b));
    // the runbook: skip past anything that may have been issued (the refused fetch moved max_id too)
    const skip = await admin('POST', '/admin/segments/rb/skip', { to: (watermark + 1000n).toString() });
    expect(skip.status).toBe(200);
    const resumed = await ids('key=rb&count=20');
    expect(resumed.every((id) => BigInt(id) > highest)).toBe(true);
    const all = [...issued, ...resumed];
    expect(new Set(all).size).toBe(all.length);
    expect((await app.get('/health/ready')).body.info.segment.keys.rb.status).toBe('up');
  });
});
