import { RunningApp, request, startApp } from './support/app';
import { testConfig } from './support/config';
import { sqliteDatabase } from './support/dialects';
import { duplicates, pullIds } from './support/load';
import { freePort, ServerProcess } from './support/process';

const ADMIN_TOKEN = 'unguessable-admin-token-01';
const SECRET = 'a-long-random-secret-for-the-tests-0123456789';
const MAX = 9223372036854775807n;
const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

/** chi-square of the low 8 bits over 256 buckets; ~255 for uniform data, far more for a sequence's differences */
function chiSquareLow8(values: bigint[]): number {
  const counts = new Array<number>(256).fill(0);
  for (const v of values) counts[Number(v & 255n)]++;
  const expected = values.length / 256;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

describe('public segment keys (FF1 over 63 bits)', () => {
  let app: RunningApp;
  const admin = (path: string, body: unknown) => app.get(path, { method: 'POST', headers: auth, body: JSON.stringify(body) });

  beforeAll(async () => {
    app = await startApp(testConfig({ ADMIN_TOKEN, ID_SECRET: SECRET, SEGMENT_STEP_MAX: '1000000' }));
    expect((await admin('/admin/segments', { key: 'pub', public: true, step: 100000 })).status).toBe(201);
    expect((await admin('/admin/segments', { key: 'pub2', public: true, step: 100000 })).status).toBe(201);
  });
  afterAll(() => app.close());

  it('1M public ids of a key: no collision, all within 1..2^63-1, revealed back to the underlying sequence', async () => {
    const result = await pullIds({ urls: () => [app.url], path: '/ids/segment?key=pub', total: 1_000_000, batch: 10_000, concurrency: 2, deadlineMs: 120_000 });
    expect(result.ids.length).toBeGreaterThanOrEqual(1_000_000);
    expect(duplicates(result.ids)).toEqual([]);
    expect(result.ids.every((id) => /^[1-9][0-9]{0,18}$/.test(id) && BigInt(id) <= MAX)).toBe(true);
    const underlying: bigint[] = [];
    for (const id of result.ids.slice(0, 200)) {
      const res = await admin('/admin/segments/pub/reveal', { id });
      expect(res.status).toBe(200);
      expect(res.body.id).toBe(id);
      underlying.push(BigInt(res.body.underlyingId));
    }
    // the first answer received was one batch of one segment: consecutive underlying ids from a
    // batch's start (two requests are out at once, so it may be the second batch, 10001..)
    expect((underlying[0] - 1n) % 10_000n).toBe(0n);
    expect(underlying.map(String)).toEqual(Array.from({ length: 200 }, (_, i) => String(underlying[0] + BigInt(i))));
  }, 150_000);

  it('reveals nothing in order or count: consecutive public ids pass a chi-square a plain sequence fails', async () => {
    const ids = (await app.get('/ids/segment?key=pub&count=10000')).body.ids.map(BigInt) as bigint[];
    const diffs = ids.slice(1).map((id, i) => (id - ids[i] + (1n << 64n)) % (1n << 63n));
    const plain = Array.from({ length: 9999 }, () => 1n); // differences of a plain sequence
    expect(chiSquareLow8(diffs)).toBeLessThan(400); // 255 degrees of freedom, p ~ 1e-7
    expect(chiSquareLow8(plain)).toBeGreaterThan(100_000);
    expect(chiSquareLow8(ids)).toBeLessThan(400);
  });

  it('different keys give unrelated sequences', async () => {
    const a = (await app.get('/ids/segment?key=pub&count=1000')).body.ids as string[];
    const b = (await app.get('/ids/segment?key=pub2&count=1000')).body.ids as string[];
    const inA = new Set(a);
    expect(b.filter((id) => inA.has(id))).toEqual([]);
  });

  it('reveal: INVALID_ID for a bad id, VALIDATION_FAILED for a plain key, UNKNOWN_KEY for a missing one', async () => {
    expect((await admin('/admin/segments/pub/reveal', { id: '0' })).body.code).toBe('INVALID_ID');
    expect((await admin('/admin/segments/pub/reveal', { id: 'abc' })).body.code).toBe('INVALID_ID');
    expect((await admin('/admin/segments/pub/reveal', { id: (MAX + 1n).toString() })).body.code).toBe('INVALID_ID');
    expect((await admin('/admin/segments/pub/reveal', {})).body.code).toBe('INVALID_ID');
    expect((await admin('/admin/segments/default/reveal', { id: '5' })).body.code).toBe('VALIDATION_FAILED');
    expect((await admin('/admin/segments/nokey/reveal', { id: '5' })).body.code).toBe('UNKNOWN_KEY');
  });
});

describe('ID_SECRET fingerprint', () => {
  it('public keys need ID_SECRET; a different secret on the same database is refused at start', async () => {
    const db = await sqliteDatabase();
    const noSecret = await startApp(testConfig({ ...db.env, ADMIN_TOKEN }));
    const refused = await noSecret.get('/admin/segments', { method: 'POST', headers: auth, body: JSON.stringify({ key: 'p', public: true }) });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/ID_SECRET/);
    await noSecret.close();

    const first = await ServerProcess.start({ ...db.env, ADMIN_TOKEN, ID_SECRET: SECRET });
    const created = await request(`${first.url}/admin/segments`, { method: 'POST', headers: auth, body: JSON.stringify({ key: 'p', public: true }) });
    expect(created.status).toBe(201);
    await first.kill();

    const other = ServerProcess.spawn({ ...db.env, ID_SECRET: 'another-secret-entirely-0123456789' }, [], await freePort());
    expect((await other.exited).code).toBe(2); // a start-up refusal (README, "Exit codes")
    expect(other.output).toMatch(/id-allocator: cannot start: ID_SECRET is not the secret this database was first used with/);

    const none = ServerProcess.spawn({ ...db.env }, [], await freePort());
    expect((await none.exited).code).toBe(2);
    expect(none.output).toMatch(/cannot start: ID_SECRET is required: 1 segment key\(s\) are public/);

    const same = await ServerProcess.start({ ...db.env, ID_SECRET: SECRET });
    expect((await request(`${same.url}/ids/segment?key=p`)).status).toBe(200);
    await same.kill();
    await db.drop();
  }, 60_000);
});

describe('SNOWFLAKE_PERMUTE', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp(testConfig({ ADMIN_TOKEN, ID_SECRET: SECRET, SNOWFLAKE_PERMUTE: 'true' }));
  });
  afterAll(() => app.close());

  it('1M ids unique and ordered by their millisecond; the public decode shows only the time, the admin decode all fields', async () => {
    const result = await pullIds({ urls: () => [app.url], path: '/ids/snowflake', total: 1_000_000, batch: 10_000, concurrency: 1, deadlineMs: 120_000 });
    expect(result.ids.length).toBeGreaterThanOrEqual(1_000_000);
    expect(duplicates(result.ids)).toEqual([]);
    const ms = (id: string) => BigInt(id) >> 22n;
    for (let i = 1; i < result.ids.length; i++) {
      if (ms(result.ids[i]) < ms(result.ids[i - 1])) throw new Error(`not ordered by ms at ${i}`);
    }
    // within one ms the low bits are no longer a count: not sorted
    const firstMs = result.ids.filter((id) => ms(id) === ms(result.ids[0]));
    expect(firstMs.length).toBeGreaterThan(10);
    expect([...firstMs].sort()).not.toEqual(firstMs);

    const id = result.ids[12345];
    const pub = await app.get(`/ids/snowflake/${id}/decode`);
    expect(Object.keys(pub.body).sort()).toEqual(['id', 'timestamp']);
    const full = await app.get(`/admin/snowflake/${id}/decode`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(full.status).toBe(200);
    expect(full.body.timestamp).toBe(pub.body.timestamp);
    const ready = await app.get('/health/ready');
    expect(full.body.workerId).toBe(ready.body.info.snowflake.workerId);
    // decoded sequences of one ms are distinct
    const seqs = new Set<number>();
    for (const x of firstMs.slice(0, 50)) {
      const d = await app.get(`/admin/snowflake/${x}/decode`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      seqs.add(d.body.sequence);
    }
    expect(seqs.size).toBe(Math.min(50, firstMs.length));
  }, 150_000);
});
