import { request } from './support/app';
import { ServerProcess, sleep } from './support/process';
import { Db, drain, expectUnique, FAST, ids, leaseContenders, readiness, startReady, ts, waitReady, worker } from './snowflake-support';

/**
 * The multi-process scenarios of issue 5, run as real processes of dist/apps/id-server/main.js
 * on one database (SQLite file or MariaDB). Each scenario uses its own slice of worker ids.
 */
export function snowflakeScenarios(db: () => Db): void {
  const servers: ServerProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const s = await startReady({ ...db().env, ...env });
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.kill('SIGKILL')));
  });

  it('3 instances get 3 distinct worker ids; 1,000,000 ids over HTTP from all three, 0 duplicates', async () => {
    const env = { ...FAST, SNOWFLAKE_WORKER_IDS: '10-19' };
    const three = await Promise.all([start(env), start(env), start(env)]);
    const workerIds = await Promise.all(three.map(async (s) => (await readiness(s)).body.info.snowflake.workerId));
    expect(new Set(workerIds).size).toBe(3);
    for (const w of workerIds) expect(w).toBeGreaterThanOrEqual(10);
    const perServer = await drain(three, 1_000_000, 10_000);
    const all = perServer.flat();
    expect(all).toHaveLength(1_000_000);
    expectUnique(all);
    perServer.forEach((list, i) => {
      expect(list.length).toBeGreaterThan(0);
      expect(new Set(list.map(worker))).toEqual(new Set([workerIds[i]]));
    });
  }, 180_000);

  it('pool of 3, SIGKILL one, start a new one at once: it waits not ready for the dead lease, then issues only after its reservation', async () => {
    // a long enough lease that the newcomer is up before the dead one lapses
    const env = { SNOWFLAKE_LEASE_MS: '6000', SNOWFLAKE_RENEW_MS: '1500', SNOWFLAKE_RESERVE_MS: '6000', SNOWFLAKE_MAX_SKEW_MS: '200', SNOWFLAKE_WORKER_IDS: '20-22' };
    const [a, b, c] = await Promise.all([start(env), start(env), start(env)]);
    const collected: string[] = [];
    for (const s of [a, b, c]) collected.push(...(await ids(s, 5000)));
    const dead = (await readiness(b)).body.info.snowflake.workerId as number;
    await b.kill('SIGKILL');
    const reservation = (await db().row(dead))!.reserved_until; // final: nobody renews it any more
    expect(reservation).toBeGreaterThan(Date.now());

    const d = ServerProcess.spawn({ ...db().env, ...env }, [], await freePortOf());
    servers.push(d);
    await d.waitLive();
    // while it waits: not ready, and the id route answers 503 WORKER_LEASE_LOST saying why
    const early = await request(`${d.url}/ids/snowflake`);
    expect(early.status).toBe(503);
    expect(early.body.code).toBe('WORKER_LEASE_LOST');
    expect(early.headers.get('retry-after')).toBe('1');
    const reasons = await waitReady(d);
    // held by live instances until the dead lease lapses (a slow start may miss that), then the takeover wait
    expect(reasons.join(' | ')).toMatch(/all 3 worker ids of SNOWFLAKE_WORKER_IDS=20-22 are held by live instances|waiting for the clock to pass/);

    expect((await readiness(d)).body.info.snowflake.workerId).toBe(dead);
    const fresh = await ids(d, 10_000);
    for (const id of fresh) expect(ts(id)).toBeGreaterThan(reservation);
    for (const s of [a, c]) collected.push(...(await ids(s, 5000)));
    expectUnique([...collected, ...fresh]);
  }, 120_000);

  it('a clean shutdown releases the lease with the highest timestamp issued: the next holder starts above it, without waiting out the reservation', async () => {
    const env = { SNOWFLAKE_LEASE_MS: '6000', SNOWFLAKE_RENEW_MS: '1500', SNOWFLAKE_RESERVE_MS: '60000', SNOWFLAKE_START_WAIT_MS: '90000', SNOWFLAKE_WORKER_IDS: '30' };
    const first = await start(env);
    const before = await ids(first, 10_000);
    const reservedWhileHeld = (await db().row(30))!.reserved_until;
    expect(reservedWhileHeld).toBeGreaterThan(Date.now() + 30_000); // a renewal reserves a minute ahead
    const exit = await first.kill('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.output).not.toMatch(/release failed/);
    const row = (await db().row(30))!;
    expect(row.instance_id).toBeNull(); // released
    expect(row.reserved_until).toBeGreaterThanOrEqual(Math.max(...before.map(ts))); // nothing issued above it
    expect(row.reserved_until).toBeLessThan(reservedWhileHeld);

    const next = ServerProcess.spawn({ ...db().env, ...env }, [], await freePortOf());
    servers.push(next);
    await next.waitLive();
    await waitReady(next, 20_000); // well inside the minute the last renewal had reserved
    expect(Date.now()).toBeLessThan(reservedWhileHeld);
    const after = await ids(next, 10_000);
    for (const id of after) {
      expect(worker(id)).toBe(30);
      expect(ts(id)).toBeGreaterThan(row.reserved_until);
    }
    expectUnique([...before, ...after]);
  }, 120_000);

  it('20 processes acquiring at once on a barrier: 20 distinct worker ids', async () => {
    const { workerIds, details } = await leaseContenders(20, { ...db().env, ...FAST, SNOWFLAKE_WORKER_IDS: '100-163' });
    expect(details.filter((d) => d.workerId === null || d.workerId === undefined)).toEqual([]);
    expect(new Set(workerIds).size).toBe(20);
    for (const w of workerIds) expect(w! >= 100 && w! <= 163).toBe(true);
  }, 120_000);

  it('a static id held by a live instance: the second claimant is not ready, saying why, until the holder goes', async () => {
    const env = { ...FAST, SNOWFLAKE_WORKER_ID: '40' };
    const holder = await start(env);
    const held = await ids(holder, 1000);
    const claimant = ServerProcess.spawn({ ...db().env, ...env }, [], await freePortOf());
    servers.push(claimant);
    await claimant.waitLive();
    await sleep(1000);
    const r = await readiness(claimant);
    expect(r.status).toBe(503);
    expect(r.body.error.snowflake.reason).toMatch(/static worker id 40 is held by another instance .* two instances with the same worker id would repeat ids/);
    await holder.kill('SIGKILL');
    await waitReady(claimant);
    const after = await ids(claimant, 1000);
    expect(new Set(after.map(worker))).toEqual(new Set([40]));
    expect(Math.min(...after.map(ts))).toBeGreaterThan(Math.max(...held.map(ts)));
    expectUnique([...held, ...after]);
  }, 60_000);

  it('a static id restarted with the clock behind its reservation waits not ready, then exits with a clear message', async () => {
    const env = { ...FAST, SNOWFLAKE_WORKER_ID: '60', SNOWFLAKE_START_WAIT_MS: '2000' };
    const first = await start(env);
    await ids(first, 10);
    await first.kill('SIGKILL');
    // the last run's clock was 10 minutes ahead of this one
    await db().setReservation(60, Date.now() + 600_000);
    const restarted = ServerProcess.spawn({ ...db().env, ...env }, [], await freePortOf());
    servers.push(restarted);
    await restarted.waitLive();
    let waiting = '';
    for (let i = 0; i < 100 && !waiting; i++) {
      const r = await readiness(restarted).catch(() => undefined);
      const reason: string = r?.body?.error?.snowflake?.reason ?? '';
      if (/waiting for the clock to pass the previous holder's reservation/.test(reason)) waiting = reason;
      else await sleep(50);
    }
    expect(waiting).toMatch(/worker id 60/);
    expect((await request(`${restarted.url}/ids/snowflake`)).body.code).toBe('WORKER_LEASE_LOST');
    const exit = await restarted.exited;
    expect(exit.code).toBe(2); // a refusal to go on (README, "Exit codes")
    expect(restarted.output).toMatch(/id-allocator: snowflake: the clock is \d+ ms behind the reservation of worker id 60 .* waited SNOWFLAKE_START_WAIT_MS=2000 ms/);
    const row = (await db().row(60))!;
    expect(row.instance_id).toBeNull(); // released on the way out, reservation kept
    expect(row.reserved_until).toBeGreaterThan(Date.now() + 500_000);
  }, 60_000);
}

async function freePortOf(): Promise<number> {
  const { freePort } = await import('./support/process');
  return freePort();
}
