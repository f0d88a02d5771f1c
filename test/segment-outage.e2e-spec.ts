import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';
import { serversUnderTest, TestDatabase, throughProxy } from './support/dialects';
import { duplicates } from './support/load';
import { ProxyMode, TcpProxy } from './support/tcp-proxy';
import { sleep } from './support/process';

const WAIT_MS = 1000;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const cases = serversUnderTest('segment outage tests').flatMap((server) =>
  (['cut', 'blackhole'] as Exclude<ProxyMode, 'pass'>[]).map((mode) => ({ server, mode })),
);
if (cases.length > 0) {
  describe.each(cases)('segment: $server.name outage through a proxy ($mode)', ({ server, mode }) => {
    let db: TestDatabase;
    let proxy: TcpProxy;
    let app: RunningApp;
    const issued: string[] = [];

    beforeAll(async () => {
      db = await server.open(`outage_${mode}`);
      proxy = await TcpProxy.start(server.host, server.port);
      app = await startApp(testConfig({ ...db.env, DATABASE_URL: throughProxy(db, server.port, proxy.port), SEGMENT_DYNAMIC_STEP: 'false', SEGMENT_WAIT_MS: String(WAIT_MS) }));
    });
    afterAll(async () => {
      await proxy?.set('pass');
      await app?.close();
      await proxy?.close();
      await db?.drop();
    });

    it('buffered ids keep flowing, then 503 within the deadline, not ready but live; ids resume when it heals', async () => {
      issued.push(...(await app.get('/ids/segment?count=5')).body.ids);
      await sleep(100); // the preloaded next segment lands
      await proxy.set(mode);

      // drain what is buffered (step 1000: at most two segments)
      let failure;
      for (let i = 0; i < 100; i++) {
        const started = Date.now();
        const res = await app.get('/ids/segment?count=50');
        if (res.status !== 200) {
          failure = { res, ms: Date.now() - started };
          break;
        }
        issued.push(...res.body.ids);
      }
      // a batch waits for all its ids; single ids drain what is left
      for (let i = 0; i < 100; i++) {
        const res = await app.get('/ids/segment');
        if (res.status !== 200) break;
        issued.push(...res.body.ids);
      }
      expect(issued.length).toBeGreaterThan(500); // buffered ids flowed during the outage
      expect(failure?.res.status).toBe(503);
      expect(failure?.res.body.code).toBe('SEGMENT_UNAVAILABLE');
      expect(failure?.res.headers.get('retry-after')).toBe('1');
      expect(failure!.ms).toBeLessThan(WAIT_MS + 1500); // bounded by the wait deadline: no hang

      expect((await app.get('/health/live')).status).toBe(200);
      const notReady = await until('readiness 503', async () => {
        const r = await app.get('/health/ready');
        return r.status === 503 && r.body.error.segment ? r : undefined;
      });
      expect(notReady.body.error.segment).toMatchObject({ status: 'down', database: { status: 'down' } });

      await proxy.set('pass');
      // recovers by itself, without traffic
      await until('readiness 200', async () => ((await app.get('/health/ready')).status === 200 ? true : undefined));
      const resumed = await app.get('/ids/segment?count=100');
      expect(resumed.status).toBe(200);
      issued.push(...resumed.body.ids);
      expect(duplicates(issued)).toEqual([]);
    }, 60_000);
  });
}
