import { request } from './support/app';
import { serversUnderTest, TestDatabase, throughProxy } from './support/dialects';
import { ServerProcess, sleep } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

/**
 * The waiter queue during a database outage, against a real process: arrival order, a big batch
 * has the buffered ids set aside for it (never issued to anyone else while it waits, given back
 * unissued at its deadline), those behind it then served from them, and a bounded queue.
 */
const ADMIN_TOKEN = 'segment-waiters-admin-token';
const MAX_WAITERS = 21;

for (const database of serversUnderTest('segment waiter tests')) {
  describe(`segment waiters during a ${database.name} outage (real process)`, () => {
    let db: TestDatabase;
    let proxy: TcpProxy;
    let server: ServerProcess;

    beforeAll(async () => {
      db = await database.open('waiters');
      proxy = await TcpProxy.start(database.host, database.port);
      server = await ServerProcess.start({
        ...db.env,
        DATABASE_URL: throughProxy(db, database.port, proxy.port),
        ADMIN_TOKEN,
        SEGMENT_DYNAMIC_STEP: 'false',
        SEGMENT_WAIT_MS: '3000',
        SEGMENT_MAX_WAITERS: String(MAX_WAITERS),
        LOG_LEVEL: 'error',
      });
    }, 60_000);
    afterAll(async () => {
      await proxy?.set('pass');
      await server?.kill('SIGKILL');
      await proxy?.close();
      await db?.drop();
    });

    it('a waiting big batch holds up those behind it only until its deadline; they then get the ids it set aside; the queue is bounded', async () => {
      const created = await request(`${server.url}/admin/segments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'wq', step: 100 }),
      });
      expect(created.status).toBe(201);
      const first = (await request(`${server.url}/ids/segment?key=wq&count=10`)).body.ids as string[];
      expect(first).toEqual(Array.from({ length: 10 }, (_, i) => String(i + 1)));
      await sleep(500); // the preload [101, 201) lands: 190 ids buffered
      await proxy.set('cut');

      const order: string[] = [];
      const get = (name: string, count: number) =>
        request(`${server.url}/ids/segment?key=wq&count=${count}`).then((res) => {
          order.push(name);
          return res;
        });
      const big = get('big', 5000);
      await sleep(200); // the big batch is first in the queue
      const small = Array.from({ length: MAX_WAITERS - 1 }, (_, i) => get(`small${i}`, 1));
      await sleep(200);
      const over = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`over${i}`, 1)));
      for (const res of over) {
        expect(res.status).toBe(503);
        expect(res.body.code).toBe('SEGMENT_UNAVAILABLE');
        expect(res.body.message).toMatch(/too many requests waiting/);
      }
      const bigRes = await big;
      expect(bigRes.status).toBe(503);
      expect(bigRes.body.code).toBe('SEGMENT_UNAVAILABLE');
      const smallRes = await Promise.all(small);
      expect(smallRes.every((r) => r.status === 200)).toBe(true);
      // arrival order, and nothing handed to anyone while the big batch held it
      expect(order.slice(0, 10).every((n) => n.startsWith('over'))).toBe(true);
      expect(order[10]).toBe('big');
      const smallIds = smallRes.map((r) => r.body.ids[0] as string);
      expect(smallIds).toEqual(Array.from({ length: MAX_WAITERS - 1 }, (_, i) => String(11 + i)));

      await proxy.set('pass');
    }, 60_000);
  });
}
