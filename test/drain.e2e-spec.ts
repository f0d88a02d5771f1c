import { request } from './support/app';
import { sqliteDatabase, TestDatabase } from './support/dialects';
import { ServerProcess, sleep } from './support/process';

/** polls until readiness fails with the shutdown's reason; bounded */
async function untilNotReady(server: ServerProcess, timeoutMs = 15_000): Promise<{ status: number; reason: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await request(`${server.url}/health/ready`).catch(() => undefined);
    if (res?.status === 503) return { status: res.status, reason: res.body.error.instance.reason };
    await sleep(50);
  }
  throw new Error(`readiness still 200 ${timeoutMs} ms after SIGTERM:\n${server.output}`);
}

/** the exit, or 'still running' if it does not come within a bound far above any drain skipped */
async function exitWithin(server: ServerProcess, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  try {
    return await Promise.race([server.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each([1, 2])('shutdown drain, WORKERS=%i', (workers) => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const server = await ServerProcess.start({ ...db.env, WORKERS: String(workers), LOG_LEVEL: 'info', ...env });
    servers.push(server);
    // with two workers, wait for both: each must be listening to drain (a worker the primary does
    // not yet know to listen dies of the signal instead, resetting what it was handed). Each logs
    // its ready line once it listens.
    const readyLines = () => server.output.split('\n').filter((l) => l.includes('ready: id-allocator listening')).length;
    for (let i = 0; i < 300 && readyLines() < workers; i++) await sleep(100);
    if (readyLines() < workers) throw new Error(`${readyLines()} of ${workers} workers ready after 30 s:\n${server.output}`);
    for (let i = 0; i < 100 && (await request(`${server.url}/health/ready`)).status !== 200; i++) await sleep(100);
    return server;
  };

  beforeAll(async () => {
    db = await sqliteDatabase();
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill('SIGKILL')));
    await db.drop();
  });

  it('SIGTERM: readiness 503 at once naming the shutdown, every route still answers with Connection: close, then exit 0', async () => {
    const server = await start({ SHUTDOWN_DRAIN_MS: '6000' });
    const before = await request(`${server.url}/ids/segment`);
    expect(before.status).toBe(200);
    expect(before.headers.get('connection')).not.toBe('close');

    server.child.kill('SIGTERM');
    const ready = await untilNotReady(server);
    expect(ready.reason).toMatch(/shutting down: draining/);
    // every answer opens a new connection, which the primary hands to either worker: each drains
    for (let i = 0; i < 4 * workers; i++) expect((await request(`${server.url}/health/ready`)).status).toBe(503);
    // the direct routes' Fastify instance (ids) and Nest's (liveness, a 404) alike
    for (const path of ['/ids/segment', '/ids/uuid', '/health/live']) {
      const res = await request(`${server.url}${path}`);
      expect([path, res.status, res.headers.get('connection')]).toEqual([path, 200, 'close']);
    }
    const missing = await request(`${server.url}/no/such/route`);
    expect([missing.status, missing.headers.get('connection')]).toEqual([404, 'close']);

    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output).toMatch(/draining for SHUTDOWN_DRAIN_MS=6000 ms/);
  }, 150_000);

  it.each([
    ['a second SIGTERM', 'SIGTERM'],
    ['a SIGINT', 'SIGINT'],
  ] as const)('%s during the drain skips the rest of it: exit 0', async (_what, signal) => {
    // a drain of ten minutes: the exit below comes only if it is skipped
    const server = await start({ SHUTDOWN_DRAIN_MS: '600000' });
    server.child.kill('SIGTERM');
    await untilNotReady(server);
    server.child.kill(signal);
    expect(await exitWithin(server, 30_000)).toEqual({ code: 0, signal: null });
  }, 150_000);

  it('SHUTDOWN_DRAIN_MS=0: closes at once, as before the drain existed: exit 0', async () => {
    const server = await start({ SHUTDOWN_DRAIN_MS: '0' });
    server.child.kill('SIGTERM');
    expect(await exitWithin(server, 30_000)).toEqual({ code: 0, signal: null });
    expect(server.output).not.toMatch(/draining/);
  }, 150_000);
});
