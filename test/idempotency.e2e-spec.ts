import { IdClient } from '@app/client';
import { request } from './support/app';
import { dialects, openDatabase, TestDatabase } from './support/dialects';
import { duplicates } from './support/load';
import { ServerProcess } from './support/process';

const ADMIN_TOKEN = 'idempotency-admin-token';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

function post(url: string, path: string, idempotencyKey?: string) {
  return request(`${url}${path}`, { method: 'POST', headers: idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey } });
}

describe.each(dialects())('POST /ids/:strategy with Idempotency-Key on %s: two processes and a restart', (dialect) => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];
  const start = () => ServerProcess.start({ ...db.env, ADMIN_TOKEN, LOG_LEVEL: 'error', SEGMENT_DYNAMIC_STEP: 'false' });

  beforeAll(async () => {
    db = await openDatabase(dialect, 'idem');
    servers.push(await start());
    for (const body of [
      { key: 'idem', step: 50 },
      { key: 'inv', step: 50, format: { pattern: 'INV-{yyyy}{MM}{dd}-{seq:6}', reset: 'day', timeZone: 'Asia/Shanghai', checkDigit: 'luhn' } },
    ]) {
      expect((await request(`${servers[0].url}/admin/segments`, { method: 'POST', headers: admin, body: JSON.stringify(body) })).status).toBe(201);
    }
    servers.push(await start());
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill('SIGKILL')));
    await db?.drop();
  });

  it('without the header POST is GET; a bad header is 400; the same key with other parameters is 422', async () => {
    const [a, b] = servers;
    const plain = await post(a.url, '/ids/segment?key=idem&count=3');
    expect(plain.status).toBe(200);
    expect(plain.body).toEqual({ strategy: 'segment', key: 'idem', ids: [expect.any(String), expect.any(String), expect.any(String)] });
    const again = await post(a.url, '/ids/segment?key=idem&count=3');
    expect(again.body.ids).not.toEqual(plain.body.ids);
    const bad = await request(`${a.url}/ids/segment?key=idem`, { method: 'POST', headers: { 'idempotency-key': 'has space' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    const first = await post(a.url, '/ids/segment?key=idem&count=2', 'reuse-1');
    expect(first.status).toBe(200);
    const reused = await post(b.url, '/ids/segment?key=idem&count=3', 'reuse-1');
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const replay = await post(b.url, '/ids/segment?key=idem&count=2', 'reuse-1');
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    // a request that fails answers no ids and keeps no key: a bad query is refused before the key is claimed
    const unknown = await post(a.url, '/ids/segment?key=nosuch', 'fail-1');
    expect(unknown.status).toBe(404);
    const unknownAgain = await post(b.url, '/ids/segment?key=nosuch', 'fail-1');
    expect(unknownAgain.status).toBe(404);
  }, 60_000);

  it('a retry storm: 8 retries of each of 60 keys, concurrent, across both processes and then after a restart: one set of ids per key, no id twice', async () => {
    const M = 60;
    const N = 8;
    const answers = new Map<string, Set<string>>();
    const idsOf = new Map<string, string[]>();
    const statuses: Record<number, number> = {};
    const storm = async () =>
      Promise.all(
        Array.from({ length: M * N }, async (_, i) => {
          const k = `storm-${i % M}`;
          const key = i % M < M / 2 ? 'idem' : 'inv';
          const res = await post(servers[i % 2].url, `/ids/segment?key=${key}&count=5`, k);
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status !== 200) return;
          const set = answers.get(k) ?? new Set<string>();
          set.add(JSON.stringify(res.body.ids));
          answers.set(k, set);
          idsOf.set(k, res.body.ids);
        }),
      );
    // plain GETs interleaved: the idempotent answers and fresh ids never share an id
    const plain: string[] = [];
    const gets = Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await request(`${servers[i % 2].url}/ids/segment?key=idem&count=5`);
        expect(res.status).toBe(200);
        plain.push(...res.body.ids);
      }),
    );
    await Promise.all([storm(), gets]);
    // one process restarted: its answers come from the database
    await servers[1].kill('SIGTERM');
    servers[1] = await start();
    await storm();
    expect(statuses).toEqual({ 200: 2 * M * N });
    expect(answers.size).toBe(M);
    for (const set of answers.values()) expect(set.size).toBe(1);
    const all = [...[...idsOf.values()].flat(), ...plain];
    expect(all).toHaveLength(M * 5 + 200);
    expect(duplicates(all)).toEqual([]);
    expect([...idsOf.values()].flat().filter((id) => id.startsWith('INV-'))).toHaveLength((M / 2) * 5);
    const rows = await db.query("SELECT COUNT(*) AS n FROM id_idempotency WHERE idem_key LIKE 'storm-%' AND answer IS NOT NULL");
    expect(Number(rows[0].n)).toBe(M);
    // eslint-disable-next-line no-console
    console.log(`${dialect} retry storm: ${M} keys x ${N} retries x 2 rounds = ${2 * M * N} requests, ${answers.size} keys each answered one set, ${all.length} ids, 0 duplicates`);
  }, 120_000);

  it('the client sends one Idempotency-Key per call (failover retries reuse it); the same key answers the same ids', async () => {
    const client = new IdClient({ baseUrls: servers.map((s) => s.url) });
    try {
      const one = await client.batch('segment', 'idem', 4, { idempotencyKey: 'client-call-1' });
      const again = await client.batch('segment', 'idem', 4, { idempotencyKey: 'client-call-1' });
      expect(again).toEqual(one);
      const fresh = await client.batch('segment', 'idem', 4, { idempotencyKey: true });
      expect(fresh).toHaveLength(4);
      expect(fresh.filter((id) => one.includes(id))).toEqual([]);
      const formatted = await client.batch('segment', 'inv', 2);
      expect(formatted).toEqual([expect.stringMatching(/^INV-\d{8}-\d{7}$/), expect.stringMatching(/^INV-\d{8}-\d{7}$/)]);
    } finally {
      client.close();
    }
  });

  it('past IDEMPOTENCY_TTL_MS a key is new again, and expired rows are removed in the background', async () => {
    // a third process with a 1 s retention on the same database (its sweep removes every older row)
    const short = await ServerProcess.start({ ...db.env, ADMIN_TOKEN, LOG_LEVEL: 'error', IDEMPOTENCY_TTL_MS: '1000' });
    servers.push(short);
    const first = await post(short.url, '/ids/segment?key=idem&count=2', 'ttl-1');
    expect(first.status).toBe(200);
    // the row of ttl-1 itself, and any older (the storm's), removed by the sweep once past 1 s
    const count = async () => Number((await db.query("SELECT COUNT(*) AS n FROM id_idempotency WHERE idem_key = 'ttl-1' OR idem_key LIKE 'storm-%'"))[0].n);
    expect(await count()).toBeGreaterThan(0);
    const deadline = Date.now() + 30_000;
    while ((await count()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await count()).toBe(0);
    // expired: other parameters are a new request, not 422
    const again = await post(short.url, '/ids/segment?key=idem&count=3', 'ttl-1');
    expect(again.status).toBe(200);
    expect(again.body.ids).toHaveLength(3);
    expect(again.body.ids.filter((id: string) => first.body.ids.includes(id))).toEqual([]);
  }, 60_000);

  it('IDEMPOTENCY_TTL_MS is checked at start', async () => {
    const bad = ServerProcess.spawn({ ...db.env, IDEMPOTENCY_TTL_MS: '10' }, [], 1);
    const { code } = await bad.exited;
    expect(code).toBe(2);
    expect(bad.output).toMatch(/IDEMPOTENCY_TTL_MS/);
  });
});
