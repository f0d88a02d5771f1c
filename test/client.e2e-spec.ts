import { IdClient, IdClientError } from '@app/client';
import { sqliteDatabase, TestDatabase } from './support/dialects';
import { duplicates } from './support/load';
import { ServerProcess, sleep } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

describe('IdClient against real server processes', () => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    db = await sqliteDatabase();
    servers.push(await ServerProcess.start({ ...db.env }));
    servers.push(await ServerProcess.start({ ...db.env }));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill('SIGKILL')));
    await db.drop();
  });

  it('serves from a cache that refills in the background before it runs dry under steady demand', async () => {
    const client = new IdClient({ baseUrls: [servers[0].url], batchSize: 200, refillBelow: 0.5 });
    const ids: string[] = [];
    ids.push(await client.next('segment')); // the first call fills the cache
    expect(client.stats.waits).toBe(1);
    for (let i = 0; i < 2000; i++) {
      ids.push(await client.next('segment'));
      if (i % 20 === 0) await sleep(2); // steady, not a tight loop
    }
    expect(client.stats.waits).toBe(1); // never ran dry again
    expect(client.stats.fetches).toBeGreaterThanOrEqual(10);
    expect(duplicates(ids)).toEqual([]);
  });

  it('keeps succeeding with one of two servers killed', async () => {
    const client = new IdClient({ baseUrls: servers.map((s) => s.url), batchSize: 50, timeoutMs: 1000 });
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push(await client.next('segment', 'default'));
    await servers[0].kill('SIGKILL');
    for (let i = 0; i < 500; i++) ids.push(await client.next('segment', 'default'));
    expect(ids).toHaveLength(700);
    expect(duplicates(ids)).toEqual([]);
    expect(client.stats.failovers).toBeGreaterThanOrEqual(1);
    // direct batches fail over too
    const batch = await new IdClient({ baseUrls: servers.map((s) => s.url), timeoutMs: 1000 }).batch('uuid', 'k', 5);
    expect(batch).toHaveLength(5);
  });

  it('times out a silent server and fails over to the next', async () => {
    const silent = await TcpProxy.start('127.0.0.1', 9); // nothing behind it
    await silent.set('blackhole');
    try {
      const client = new IdClient({ baseUrls: [`http://127.0.0.1:${silent.port}`, servers[1].url], timeoutMs: 300 });
      const started = Date.now();
      expect(await client.next('uuidv7')).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(client.stats.failovers).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it("carries the server's code in typed errors, without failing over a client error", async () => {
    const client = new IdClient({ baseUrls: [servers[1].url] });
    const error = await client.next('segment', 'no-such-key').catch((e) => e);
    expect(error).toBeInstanceOf(IdClientError);
    expect(error).toMatchObject({ code: 'UNKNOWN_KEY', status: 404 });
    const strategy = await client.next('nope').catch((e) => e);
    expect(strategy).toMatchObject({ code: 'UNKNOWN_STRATEGY', status: 404 });
    const none = await new IdClient({ baseUrls: ['http://127.0.0.1:1'], timeoutMs: 300 }).next('uuid').catch((e) => e);
    expect(none).toMatchObject({ code: 'UNAVAILABLE' });
  });
});
