import { request } from './support/app';
import { sqliteDatabase } from './support/dialects';
import { ServerProcess } from './support/process';

/*
 * Issue 13: one GET /ids/ticket?count=10000 on SQLite must not hold the event loop. The batch
 * runs in chunks (one transaction each) with the event loop free between them, so liveness
 * answers meanwhile: an outcome (answers counted before the batch completes), not a timing.
 */
describe('a ticket batch on SQLite leaves the event loop free', () => {
  it('while count=10000 runs, /health/live answers at least 10 times; the ids are unique and increasing', async () => {
    const db = await sqliteDatabase();
    const server = await ServerProcess.start({ ...db.env });
    try {
      let done = false;
      let liveAnswers = 0;
      const batch = request(`${server.url}/ids/ticket?count=10000`).finally(() => (done = true));
      // several pollers, each waiting for its answer before asking again
      const poll = async () => {
        for (let i = 0; i < 10_000 && !done; i++) {
          const res = await request(`${server.url}/health/live`);
          if (!done && res.status === 200) liveAnswers++;
        }
      };
      await Promise.all([poll(), poll(), poll(), poll()]);
      const res = await batch;
      expect(res.status).toBe(200);
      const ids: string[] = res.body.ids;
      expect(ids).toHaveLength(10_000);
      expect(new Set(ids).size).toBe(10_000);
      for (let i = 1; i < ids.length; i++) expect(BigInt(ids[i]) > BigInt(ids[i - 1])).toBe(true);
      expect(liveAnswers).toBeGreaterThanOrEqual(10);
    } finally {
      await server.kill();
      await db.drop();
    }
  }, 90_000);
});
