import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { IdClient, IdClientError } from '@app/client';
import { tracked } from './support/children';
import { sqliteDatabase, TestDatabase } from './support/dialects';
import { duplicates } from './support/load';
import { freePort, ServerProcess, sleep } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

const ADMIN_TOKEN = 'client-admin-token-0123456789';
const SNOWFLAKE_EPOCH_MS = Date.parse('2025-01-01T00:00:00Z');

/** a child process running test/client-child.js; resolves with every id it took */
function clientChild(env: Record<string, string>, onProgress: (n: number) => void): Promise<{ ids: string[]; errors: number }> {
  const child = tracked(
    spawn(process.execPath, [join(__dirname, 'client-child.js')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
    const progress = /PROGRESS (\d+)\n(?![\s\S]*PROGRESS)/.exec(out);
    if (progress) onProgress(Number(progress[1]));
  });
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`client child exited ${code}: ${err}`));
      const [head, list] = out.split('IDS\n');
      resolve({ ids: list.split('\n').filter((l) => l !== ''), errors: Number(/ERRORS (\d+)/.exec(head)![1]) });
    });
  });
}

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
    // requests of at most 100 ids: 2,000 ids take many refills, none of which may be waited for
    const client = new IdClient({ baseUrls: [servers[0].url], maxBatch: 100, maxHeld: 2000 });
    const ids: string[] = [];
    ids.push(await client.next('segment')); // the first call fills the cache
    expect(client.stats.waits).toBe(1);
    for (let i = 0; i < 2000; i++) {
      ids.push(await client.next('segment'));
      if (i % 10 === 0) await sleep(5); // steady, not a tight loop: the cache holds about a second of it
    }
    expect(client.stats.waits).toBe(1); // never ran dry again
    expect(client.stats.fetches).toBeGreaterThanOrEqual(10);
    expect(duplicates(ids)).toEqual([]);
    client.close();
  });

  it('keeps succeeding with one of two servers killed', async () => {
    // a small cache, so that the ids after the kill need refills
    const client = new IdClient({ baseUrls: servers.map((s) => s.url), timeoutMs: 1000, maxBatch: 50, maxHeld: 100, minBatch: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push(await client.next('segment', 'default'));
    await servers[0].kill('SIGKILL');
    for (let i = 0; i < 500; i++) ids.push(await client.next('segment', 'default'));
    expect(ids).toHaveLength(700);
    expect(duplicates(ids)).toEqual([]);
    expect(client.stats.failovers).toBeGreaterThanOrEqual(1);
    client.close();
    // direct batches fail over too
    const direct = new IdClient({ baseUrls: servers.map((s) => s.url), timeoutMs: 1000 });
    const batch = await direct.batch('uuid', 'k', 5);
    direct.close();
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
      expect(client.stats.failovers).toBeGreaterThanOrEqual(1);
      client.close();
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
    client.close();
    const nowhere = new IdClient({ baseUrls: ['http://127.0.0.1:1'], timeoutMs: 300 });
    const none = await nowhere.next('uuid').catch((e) => e);
    nowhere.close();
    expect(none).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('tryNext() answers at once: undefined on an empty cache (a refill starts), then ids', async () => {
    const client = new IdClient({ baseUrls: [servers[1].url] });
    try {
      expect(client.tryNext('segment')).toBeUndefined();
      const ids: string[] = [];
      const deadline = Date.now() + 10_000;
      while (ids.length < 1000 && Date.now() < deadline) {
        const id = client.tryNext('segment');
        if (id === undefined) await sleep(5);
        else ids.push(id);
      }
      expect(ids).toHaveLength(1000);
      expect(duplicates(ids)).toEqual([]);
      expect(client.stats.fetches).toBeGreaterThanOrEqual(1);
    } finally {
      client.close();
    }
  });

  it('never holds more ids than maxHeld, in hand and in flight together', async () => {
    const client = new IdClient({ baseUrls: [servers[1].url], maxBatch: 100, maxInFlight: 3, maxHeld: 250, minBatch: 10 });
    try {
      const ids: string[] = [];
      let most = 0;
      for (let i = 0; i < 5000; i++) {
        ids.push(client.tryNext('segment') ?? (await client.next('segment')));
        const held = client.held('segment');
        most = Math.max(most, held.inHand + held.inFlight);
        if (i % 100 === 0) await sleep(1); // let refills land: demand well above what one request carries
      }
      expect(duplicates(ids)).toEqual([]);
      expect(most).toBeGreaterThan(100); // it did fill up beyond one request...
      expect(most).toBeLessThanOrEqual(250); // ...and no further than the cap
    } finally {
      client.close();
    }
  });

  it('close() drops the cache, aborts refills, leaves no timer or socket, and refuses later calls', async () => {
    // in a process of its own: timers and sockets of this test runner's other work do not count
    const script = `
      const { IdClient } = require(${JSON.stringify(join(__dirname, '../dist/libs/client/src'))});
      const mine = () => process.getActiveResourcesInfo().filter((k) => k === 'Timeout' || k === 'TCPSocketWrap');
      (async () => {
        const before = mine();
        const client = new IdClient({ baseUrls: [${JSON.stringify(servers[1].url)}], timeoutMs: 5000 });
        const first = await client.next('segment');
        for (let i = 0; i < 200; i++) await client.next('segment');
        client.tryNext('uuid'); // a refill in flight at close
        const pending = client.next('uuidv7');
        client.close();
        const code = await pending.then(() => 'resolved', (e) => e.code);
        const later = await client.next('segment').then(() => 'resolved', (e) => e.code);
        let sync;
        try { client.tryNext('segment'); } catch (e) { sync = e.code; }
        await new Promise((r) => setTimeout(r, 50)); // destroyed sockets finish closing
        process.stdout.write(JSON.stringify({ first, code, later, sync, before: before.length, left: mine() }));
      })();
    `;
    // not spawnSync: this process must keep reading the servers' output meanwhile
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [status, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, sig) => r([c, sig])));
    clearTimeout(killer);
    expect({ status, signal }).toEqual({ status: 0, signal: null }); // SIGKILL: something of the client kept the process alive
    const seen = JSON.parse(out) as { first: string; code: string; later: string; sync: string; before: number; left: string[] };
    expect(seen).toMatchObject({ code: 'CLOSED', later: 'CLOSED', sync: 'CLOSED', before: 0, left: [] });
    // what it held is gone with it: a new client gets later ids, never the dropped ones
    const next = await new IdClient({ baseUrls: [servers[1].url] }).batch('segment', 'default', 1);
    expect(BigInt(next[0])).toBeGreaterThan(BigInt(seen.first) + 200n);
  });

  it('drops snowflake ids held past maxAgeMs: an id handed out is never older than the bound', async () => {
    const maxAgeMs = 200;
    const client = new IdClient({ baseUrls: [servers[1].url], maxAgeMs });
    try {
      for (let i = 0; i < 50; i++) await client.next('snowflake');
      await sleep(3 * maxAgeMs);
      const asked = Date.now();
      const id = await client.next('snowflake');
      const issuedAt = Number(BigInt(id) >> 22n) + SNOWFLAKE_EPOCH_MS;
      expect(client.stats.dropped).toBeGreaterThan(0);
      expect(issuedAt).toBeGreaterThanOrEqual(asked - maxAgeMs - 50); // 50 ms: Date.now() against performance.now()
    } finally {
      client.close();
    }
  });
});

describe('format=ranges and the client over it', () => {
  let db: TestDatabase;
  let server: ServerProcess;

  beforeAll(async () => {
    db = await sqliteDatabase();
    server = await ServerProcess.start({ ...db.env, ADMIN_TOKEN, ID_SECRET: 'client-test-secret-0123456789' });
    const res = await fetch(`${server.url}/admin/segments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'hidden', public: true }),
    });
    expect(res.status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await server.kill('SIGKILL');
    await db.drop();
  });

  const get = async (path: string) => {
    const res = await fetch(server.url + path);
    return { status: res.status, body: (await res.json()) as any };
  };
  const expand = (ranges: [string, string][]) => ranges.flatMap(([a, b]) => Array.from({ length: Number(BigInt(b) - BigInt(a)) + 1 }, (_, i) => String(BigInt(a) + BigInt(i))));

  it('answers a batch as consecutive ranges holding exactly count ids, never ids of another answer', async () => {
    const list = await get('/ids/segment?count=700');
    const ranges = await get('/ids/segment?count=2500&format=ranges');
    expect(ranges.status).toBe(200);
    expect(ranges.body).toMatchObject({ strategy: 'segment', key: 'default' });
    const ids = expand(ranges.body.ranges);
    expect(ids).toHaveLength(2500);
    expect(duplicates([...ids, ...list.body.ids])).toEqual([]);
    const partition = await get('/ids/partition?count=1500&format=ranges');
    expect(partition.status).toBe(200);
    expect(expand(partition.body.ranges)).toHaveLength(1500);
    expect((await get('/ids/segment?count=3&format=ids')).body.ids).toHaveLength(3);
  });

  it('refuses ranges where ids are not consecutive, and a bad format, with INVALID_FORMAT', async () => {
    for (const path of ['/ids/uuid?format=ranges', '/ids/snowflake?format=ranges', '/ids/segment?key=hidden&format=ranges', '/ids/segment?format=csv']) {
      const { status, body } = await get(path);
      expect({ path, status, code: body.code }).toEqual({ path, status: 400, code: 'INVALID_FORMAT' });
    }
  });

  it('callers alternating keys and strategies each get their own cache: public ids never come from the plain key', async () => {
    const client = new IdClient({ baseUrls: [server.url], minBatch: 10 });
    try {
      const got: Record<string, string[]> = { plain: [], hidden: [], partition: [] };
      for (let i = 0; i < 200; i++) {
        got.plain.push(await client.next('segment'));
        got.hidden.push(client.tryNext('segment', 'hidden') ?? (await client.next('segment', 'hidden')));
        got.partition.push(await client.next('partition'));
      }
      // the plain key's ids are small consecutive numbers, the public key's are not
      expect(got.plain.every((id) => BigInt(id) < 2n ** 32n)).toBe(true);
      expect(got.hidden.every((id) => BigInt(id) > 2n ** 32n)).toBe(true);
      for (const ids of Object.values(got)) expect(duplicates(ids)).toEqual([]);
      expect(client.held('segment', 'hidden').inHand + client.held('segment').inHand).toBeGreaterThan(0);
    } finally {
      client.close();
    }
    await expect(client.next('partition')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('the client falls back to lists for a public key', async () => {
    const client = new IdClient({ baseUrls: [server.url] });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) ids.push(await client.next('segment', 'hidden'));
      expect(duplicates(ids)).toEqual([]);
      for (const id of ids) expect(id).toMatch(/^[1-9][0-9]*$/);
    } finally {
      client.close();
    }
  });
});

describe('every id unique across two client processes and a server restart mid-run', () => {
  it('collects every id of both processes, ranges and lists, with the server restarted between', async () => {
    const db = await sqliteDatabase();
    const port = await freePort();
    // the server goes away at the SIGTERM, mid-run: a drain would serve the whole run first
    const env = { ...db.env, PORT: String(port), SHUTDOWN_DRAIN_MS: '0' };
    let server = await ServerProcess.start(env);
    const url = server.url;
    try {
      const total = 40_000;
      const progress = [0, 0];
      const children = [
        clientChild({ URL: url, TOTAL: String(total), RANGES: 'true' }, (n) => (progress[0] = n)),
        clientChild({ URL: url, TOTAL: String(total), RANGES: 'false' }, (n) => (progress[1] = n)),
      ];
      const deadline = Date.now() + 30_000;
      while (Math.min(...progress) < 5000 && Date.now() < deadline) await sleep(20);
      expect(Math.min(...progress)).toBeGreaterThanOrEqual(5000);
      await server.kill('SIGTERM');
      const restartedAt = Math.max(...progress);
      server = await ServerProcess.start(env);
      const [a, b] = await Promise.all(children);
      expect(restartedAt).toBeLessThan(total); // the restart fell mid-run
      expect(a.ids).toHaveLength(total);
      expect(b.ids).toHaveLength(total);
      expect(duplicates([...a.ids, ...b.ids])).toEqual([]);
    } finally {
      await server.kill('SIGKILL');
      await db.drop();
    }
  }, 120_000);
});
