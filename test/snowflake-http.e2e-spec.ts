import Database from 'better-sqlite3';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';
import { layout } from './snowflake-support';

describe('snowflake over HTTP (in process, embedded SQLite)', () => {
  let app: RunningApp;

  beforeAll(async () => {
    const config = testConfig({ SNOWFLAKE_WORKER_IDS: '0-3' });
    app = await startApp(config);
  });
  afterAll(() => app?.close());

  it('issues ids in the documented shape, strictly increasing, ready at once', async () => {
    const ready = await app.get('/health/ready');
    expect(ready.status).toBe(200);
    const res = await app.get('/ids/snowflake?key=orders&count=5');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ strategy: 'snowflake', key: 'orders', ids: expect.any(Array) });
    const ids: string[] = res.body.ids;
    for (const id of ids) expect(id).toMatch(/^[1-9][0-9]{0,18}$/);
    for (let i = 1; i < ids.length; i++) expect(BigInt(ids[i]) > BigInt(ids[i - 1])).toBe(true);
    const big = await app.get('/ids/snowflake?count=10000');
    expect(new Set(big.body.ids).size).toBe(10000);
    expect(BigInt(big.body.ids[0]) > BigInt(ids[4])).toBe(true);
  });

  it('reports worker id, lease, last valid date and clock in readiness', async () => {
    const ready = await app.get('/health/ready');
    const detail = ready.body.info.snowflake;
    expect(detail).toMatchObject({
      status: 'up',
      workerId: expect.any(Number),
      workerIdMode: 'lease',
      layout: '41,10,12',
      lastValidDate: '2094-09-07T15:47:35.551Z',
      lease: { held: true, fresh: true, reservedUntil: expect.any(String) },
      clockBehindMs: 0,
    });
    expect(detail.workerId).toBeGreaterThanOrEqual(0); // one of SNOWFLAKE_WORKER_IDS=0-3, picked at random
    expect(detail.workerId).toBeLessThanOrEqual(3);
    expect(detail.warning).toBeUndefined();
    expect(detail.yearsLeft).toBeGreaterThan(60);
  });

  it('decodes an id it issued', async () => {
    const before = Date.now();
    const { workerId } = (await app.get('/health/ready')).body.info.snowflake;
    const [id] = (await app.get('/ids/snowflake')).body.ids;
    const res = await app.get(`/ids/snowflake/${id}/decode`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id, timestamp: expect.any(String), workerId, sequence: expect.any(Number) });
    const at = Date.parse(res.body.timestamp);
    expect(at).toBeGreaterThanOrEqual(before - 1);
    expect(at).toBeLessThanOrEqual(Date.now() + 20);
    expect(layout.compose(at, workerId, res.body.sequence).toString()).toBe(id);
  });

  it('decodes the ends of the range', async () => {
    expect((await app.get('/ids/snowflake/0/decode')).body).toEqual({ id: '0', timestamp: '2025-01-01T00:00:00.000Z', workerId: 0, sequence: 0 });
    expect((await app.get('/ids/snowflake/9223372036854775807/decode')).body).toEqual({
      id: '9223372036854775807',
      timestamp: '2094-09-07T15:47:35.551Z',
      workerId: 1023,
      sequence: 4095,
    });
    expect((await app.get('/ids/snowflake/007/decode')).body.id).toBe('7');
  });

  it.each(['abc', '-1', '9223372036854775808', '18446744073709551615', '99999999999999999999999', '1.5', '1e5', '%201', '0x10', '12a'])(
    'decode of %s is 400 INVALID_ID',
    async (id) => {
      const res = await app.get(`/ids/snowflake/${id}/decode`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', code: 'INVALID_ID', message: expect.any(String) });
    },
  );

  it('documents the decode route and its errors in the OpenAPI document', async () => {
    const doc = (await app.get('/docs-json')).body;
    const op = doc.paths['/ids/snowflake/{id}/decode']?.get;
    expect(op).toBeDefined();
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400']));
    expect(op.responses['400'].description).toContain('INVALID_ID');
    expect(doc.paths['/ids/{strategy}'].get.responses['503'].description).toContain('WORKER_LEASE_LOST');
  });

  it('lists snowflake among the strategies', async () => {
    expect((await app.get('/ids/nope')).body.message).toMatch(/snowflake/);
  });

  it('a clean close releases the lease, keeping the reservation', async () => {
    const config = testConfig({ SNOWFLAKE_WORKER_IDS: '9' });
    const other = await startApp(config);
    const [id] = (await other.get('/ids/snowflake')).body.ids;
    const read = () => {
      const db = new Database(config.SQLITE_PATH, { readonly: true });
      try {
        return db.prepare('SELECT instance_id, reserved_until FROM worker_node WHERE worker_id = 9').get() as { instance_id: string | null; reserved_until: number };
      } finally {
        db.close();
      }
    };
    expect(read().instance_id).not.toBeNull();
    await other.close();
    const row = read();
    expect(row.instance_id).toBeNull();
    expect(row.reserved_until).toBeGreaterThanOrEqual(layout.decode(id).timestampMs);
  });
});

describe('snowflake settings at start', () => {
  it('warns in readiness under a year before the layout ends, and stays ready', async () => {
    const epoch = Date.now() - (2 ** 35 - 100 * 86_400_000); // 100 days left
    const app = await startApp(testConfig({ SNOWFLAKE_BITS: '35,16,12', SNOWFLAKE_EPOCH: String(epoch) }));
    try {
      const ready = await app.get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.info.snowflake.warning).toMatch(/under a year from now/);
      expect(ready.body.info.snowflake.yearsLeft).toBeCloseTo(100 / 365.25, 1);
    } finally {
      await app.close();
    }
  });

  it.each([
    [{ SNOWFLAKE_BITS: '35,16,12', SNOWFLAKE_EPOCH: '2020-01-01T00:00:00Z' }, /the layout ran out on 2021-02-01/],
    [{ SNOWFLAKE_EPOCH: '2999-01-01T00:00:00Z' }, /SNOWFLAKE_EPOCH: .* is in the future/],
    [{ SNOWFLAKE_BITS: '53,0,10' }, /SNOWFLAKE_BITS: time bits must be from 35 to 52/],
    [{ SNOWFLAKE_WORKER_IDS: '0-5000' }, /SNOWFLAKE_WORKER_IDS: 0-5000 goes past 1023/],
    [{ SNOWFLAKE_WORKER_ID: '2048' }, /SNOWFLAKE_WORKER_ID: 2048 is above 1023/],
    [{ SNOWFLAKE_PERMUTE: 'true' }, /SNOWFLAKE_PERMUTE=true needs ID_SECRET/],
  ])('refuses to start with %j', async (env, message) => {
    let config;
    try {
      config = testConfig(env as Record<string, string>);
    } catch (e) {
      expect((e as Error).message).toMatch(message); // caught by the configuration already
      return;
    }
    // an app that starts after all is closed again, so a failure here cannot leave a server open
    const outcome = await startApp(config).then(
      async (started) => {
        await started.close();
        return new Error('started');
      },
      (e: Error) => e,
    );
    expect(outcome.message).toMatch(message);
  });
});
