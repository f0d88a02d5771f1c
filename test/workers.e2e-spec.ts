import { request } from './support/app';
import { sqliteDatabase } from './support/dialects';
import { duplicates, pullIds } from './support/load';
import { freePort, ServerProcess, sleep } from './support/process';

describe('WORKERS=2: two processes on one port', () => {
  it('both serve, each with its own buffers and lease, 0 duplicates; SIGTERM stops them all', async () => {
    const db = await sqliteDatabase();
    const adminToken = 'workers-admin-token-0123';
    const server = await ServerProcess.start({ ...db.env, WORKERS: '2', ADMIN_TOKEN: adminToken });
    try {
      const pids = new Set<number>();
      // bounded in count and time: the second worker may still be starting on a loaded machine
      for (let i = 0; i < 300 && pids.size < 2; i++) {
        // a fresh connection each time, so the primary hands it to either worker; the pid is
        // admin-only (readiness keeps instance identities to itself)
        const res = await request(`${server.url}/admin/info`, { headers: { connection: 'close', authorization: `Bearer ${adminToken}` } });
        if (res.status === 200) pids.add(res.body.pid);
        if (pids.size < 2) await sleep(100);
      }
      expect(pids.size).toBe(2);
      const result = await pullIds({ urls: () => [server.url], path: '/ids/segment', total: 20_000, batch: 100, concurrency: 8, deadlineMs: 60_000 });
      expect(result.ids.length).toBeGreaterThanOrEqual(20_000);
      expect(duplicates(result.ids)).toEqual([]);
      const snow = await pullIds({ urls: () => [server.url], path: '/ids/snowflake', total: 20_000, batch: 100, concurrency: 8, deadlineMs: 60_000 });
      expect(duplicates(snow.ids)).toEqual([]);
    } finally {
      const exit = await server.kill('SIGTERM');
      expect(exit.code).toBe(0);
      await db.drop();
    }
  }, 90_000);

  it('is refused with a static snowflake worker id', async () => {
    const server = ServerProcess.spawn({ WORKERS: '2', SNOWFLAKE_WORKER_ID: '7' }, [], await freePort());
    const exit = await server.exited;
    expect(exit.code).toBe(2);
    expect(server.output).toMatch(/SNOWFLAKE_WORKER_ID/);
  });
});
