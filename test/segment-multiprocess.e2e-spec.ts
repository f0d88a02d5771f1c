import { request } from './support/app';
import { dialects, openDatabase, TestDatabase } from './support/dialects';
import { duplicates, pullIds } from './support/load';
import { ServerProcess } from './support/process';

const ADMIN_TOKEN = 'multiprocess-admin-token';

describe.each(dialects())('segment: 3 processes on one %s database', (dialect) => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];

  const start = () =>
    ServerProcess.start({ ...db.env, ADMIN_TOKEN, SEGMENT_DYNAMIC_STEP: 'false', LOG_LEVEL: 'error' });

  beforeAll(async () => {
    db = await openDatabase(dialect, 'multiproc');
    servers.push(await start());
    const created = await request(`${servers[0].url}/admin/segments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'mp', step: 100 }),
    });
    expect(created.status).toBe(201);
    servers.push(await start(), await start());
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill('SIGKILL')));
    await db?.drop();
  });

  it('300k ids in batches from concurrent callers, one process SIGKILLed mid-load and restarted: 0 duplicates', async () => {
    let killed = false;
    let restarting: Promise<void> | undefined;
    const result = await pullIds({
      urls: () => servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map((s) => s.url),
      path: '/ids/segment?key=mp',
      total: 300_000,
      batch: 250,
      concurrency: 12,
      deadlineMs: 240_000,
      onProgress: (n) => {
        if (!killed && n >= 100_000) {
          killed = true;
          const victim = servers[1];
          victim.child.kill('SIGKILL');
          restarting = victim.exited.then(async () => {
            servers[1] = await start();
          });
        }
      },
    });
    await restarting;
    expect(killed).toBe(true);
    expect(result.ids.length).toBeGreaterThanOrEqual(300_000);
    expect(duplicates(result.ids)).toEqual([]);
    // the restarted process serves too, above what the killed one held
    const after = await request(`${servers[1].url}/ids/segment?key=mp&count=10`);
    expect(after.status).toBe(200);
    const all = new Set([...result.ids, ...after.body.ids]);
    expect(all.size).toBe(result.ids.length + 10);
  }, 300_000);
});
