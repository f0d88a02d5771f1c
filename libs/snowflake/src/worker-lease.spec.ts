import { FakeClock } from '@app/core';
import { SnowflakeGenerator } from './snowflake-generator';
import { SnowflakeLayout } from './snowflake-layout';
import { AcquiredWorker, Claimant, WorkerHolder, WorkerLease, WorkerLeaseOptions, WorkerLeaseStore } from './worker-lease';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const layout = SnowflakeLayout.parse('41,10,12', '2025-01-01T00:00:00Z');
type Row = { instanceId: string | null; host: string | null; pid: number | null; reservedUntil: number; heartbeat: number | null };

/**
 * worker_node in memory, with the database's own clock (separate from the instances' clocks).
 * Only for the lease's logic: the SQL stores are tested against SQLite and MariaDB.
 */
class FakeStore implements WorkerLeaseStore {
  rows = new Map<number, Row>();
  down = false;
  statements = 0;
  constructor(readonly dbClock: FakeClock) {}

  private check(): void {
    this.statements++;
    if (this.down) throw new Error('connect ECONNREFUSED');
  }
  private free(r: Row, leaseMs: number): boolean {
    return r.instanceId === null || r.heartbeat === null || r.heartbeat < this.dbClock.now() - leaseMs;
  }
  async countRows(from: number, to: number) {
    this.check();
    return [...this.rows.keys()].filter((k) => k >= from && k <= to).length;
  }
  async seed(from: number, to: number) {
    this.check();
    for (let id = from; id <= to; id++) if (!this.rows.has(id)) this.rows.set(id, { instanceId: null, host: null, pid: null, reservedUntil: 0, heartbeat: null });
  }
  async acquire(from: number, to: number, c: Claimant, nowMs: number, leaseMs: number): Promise<AcquiredWorker | null> {
    this.check();
    const free = [...this.rows.entries()]
      .filter(([id, r]) => id >= from && id <= to && this.free(r, leaseMs))
      .sort(([a, x], [b, y]) => Math.max(x.reservedUntil, nowMs) - Math.max(y.reservedUntil, nowMs) || a - b);
    if (free.length === 0) return null;
    const [id, r] = free[0];
    Object.assign(r, { instanceId: c.instanceId, host: c.host, pid: c.pid, heartbeat: this.dbClock.now() });
    return { workerId: id, reservedUntil: r.reservedUntil };
  }
  async claim(workerId: number, c: Claimant, leaseMs: number) {
    this.check();
    const r = this.rows.get(workerId);
    if (!r || !(r.instanceId === c.instanceId || this.free(r, leaseMs))) return null;
    Object.assign(r, { instanceId: c.instanceId, host: c.host, pid: c.pid, heartbeat: this.dbClock.now() });
    return { workerId, reservedUntil: r.reservedUntil };
  }
  async inspect(workerId: number): Promise<WorkerHolder | null> {
    this.check();
    const r = this.rows.get(workerId);
    return r ? { workerId, ...r, heartbeatAgeMs: r.heartbeat === null ? null : this.dbClock.now() - r.heartbeat } : null;
  }
  async renew(workerId: number, instanceId: string, untilMs: number) {
    this.check();
    const r = this.rows.get(workerId);
    if (!r || r.instanceId !== instanceId) return false;
    r.heartbeat = this.dbClock.now();
    r.reservedUntil = Math.max(r.reservedUntil, untilMs);
    return true;
  }
  async release(workerId: number, instanceId: string) {
    this.check();
    const r = this.rows.get(workerId);
    if (r && r.instanceId === instanceId) Object.assign(r, { instanceId: null, heartbeat: null });
  }
}

let n = 0;
function lease(store: FakeStore, clock: FakeClock, over: Partial<WorkerLeaseOptions> = {}) {
  const fatal: string[] = [];
  const l = new WorkerLease({
    store,
    clock,
    setting: { mode: 'lease', from: 0, to: 2 },
    claimant: { instanceId: `instance-${++n}`, host: 'host-a', pid: 100 + n },
    leaseMs: 3000,
    renewMs: 1000,
    startWaitMs: 60_000,
    onFatal: (m) => fatal.push(m),
    monotonic: () => clock.now(),
    ...over,
  });
  return { l, fatal };
}

function generatorOn(l: WorkerLease, clock: FakeClock) {
  return new SnowflakeGenerator({ layout, clock, permits: l, maxBackwardMs: 5 });
}

describe('WorkerLease', () => {
  let clock: FakeClock;
  let db: FakeClock;
  let store: FakeStore;
  beforeEach(() => {
    clock = new FakeClock(T0);
    db = new FakeClock(T0 + 123_456); // the database's clock is not the instances'
    store = new FakeStore(db);
  });

  it('three instances get three distinct worker ids, each reserved ahead of its clock', async () => {
    const ls = [lease(store, clock).l, lease(store, clock).l, lease(store, clock).l];
    for (const l of ls) await l.tick();
    expect(ls.map((l) => l.workerId).sort()).toEqual([0, 1, 2]);
    for (const l of ls) {
      expect(l.permit(clock.now())).toBeDefined();
      expect(store.rows.get(l.workerId!)!.reservedUntil).toBe(T0 + 3000);
    }
  });

  it('pool exhausted: no permit, says why, and takes the first id that frees up (by the database clock)', async () => {
    const holders = [lease(store, clock).l, lease(store, clock).l, lease(store, clock).l];
    for (const l of holders) await l.tick();
    const late = lease(store, clock).l;
    await late.tick();
    expect(late.workerId).toBeNull();
    expect(late.permit(clock.now())).toBeUndefined();
    expect(late.reason(clock.now())).toMatch(/all 3 worker ids of SNOWFLAKE_WORKER_IDS=0-2 are held/);
    // holders keep renewing for a while: still nothing
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      db.advance(1000);
      await holders[0].tick();
      await holders[2].tick();
      await late.tick();
    }
    // holder 1 stopped renewing 3 s ago by the database clock, but not yet more than 3 s
    expect(late.workerId).toBeNull();
    db.advance(1);
    clock.advance(1);
    await late.tick();
    expect(late.workerId).toBe(1);
    // its reservation (T0 + 3000) has passed on our clock, so it issues at once, above it
    expect(late.permit(clock.now())).toMatchObject({ workerId: 1, afterMs: T0 + 3000 });
  });

  it('the next holder, this instance after a restart included, issues only after the previous reservation', async () => {
    store = new FakeStore(db);
    const setting = { mode: 'lease' as const, from: 5, to: 5 };
    const first = lease(store, clock, { setting }).l;
    await first.start();
    const gen1 = generatorOn(first, clock);
    const before = gen1.next(1000) as string[];
    const reserved = store.rows.get(5)!.reservedUntil;
    expect(reserved).toBe(T0 + 3000);
    await first.stop(); // clean shutdown: released, reservation kept
    expect(store.rows.get(5)).toMatchObject({ instanceId: null, reservedUntil: reserved });
    expect(first.permit(clock.now())).toBeUndefined();
    expect(() => gen1.next(1)).toThrow(/shutting down/);

    // the restart: same host, a new instance, at once
    const second = lease(store, clock, { setting }).l;
    await second.tick();
    expect(second.workerId).toBe(5);
    expect(second.permit(clock.now())).toBeUndefined();
    expect(second.reason(clock.now())).toMatch(/waiting for the clock to pass the previous holder's reservation/);
    expect(second.status(clock.now())).toMatchObject({ held: true, usable: false });
    clock.advance(3000); // at the reservation: still not
    await second.tick();
    expect(second.permit(clock.now())).toBeUndefined();
    clock.advance(1);
    await second.tick();
    const gen2 = generatorOn(second, clock);
    const after = gen2.next(1000) as string[];
    expect(layout.decode(after[0]).timestampMs).toBeGreaterThan(reserved);
    expect(new Set([...before, ...after]).size).toBe(2000);
    await second.stop();
  });

  it('a lease that cannot be renewed stops issuing before its reservation runs out, and resumes on renewal', async () => {
    const { l } = lease(store, clock);
    await l.tick();
    const gen = generatorOn(l, clock);
    const ids: string[] = [...(gen.next(10) as string[])];
    const reserved = store.rows.get(l.workerId!)!.reservedUntil;
    store.down = true;
    let stoppedAt = -1;
    for (let t = 0; t < 4000; t += 100) {
      clock.advance(100);
      db.advance(100);
      if (t % 1000 === 0) await l.tick();
      try {
        ids.push(...(gen.next(10) as string[]));
      } catch (e) {
        expect((e as { code: string }).code).toBe('WORKER_LEASE_LOST');
        // the caller gets our words; the driver's text (an address) goes to the log only
        expect((e as Error).message).toMatch(/lease not renewed since \d+ ms \(the database is unavailable; retry shortly\)/);
        expect((e as Error).message).not.toMatch(/ECONNREFUSED/);
        if (stoppedAt < 0) stoppedAt = clock.now();
      }
    }
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeLessThan(reserved); // stopped before the reservation runs out
    // nothing issued in the last RENEW_MS/2 of the reservation
    for (const id of ids) expect(layout.decode(id).timestampMs).toBeLessThanOrEqual(reserved - 500);
    expect(l.status(clock.now()).usable).toBe(false);
    // the database is back and nobody took the id: the renewal resumes issuing
    store.down = false;
    await l.tick();
    expect(l.permit(clock.now())).toBeDefined();
    ids.push(...(gen.next(10) as string[]));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a lease taken over by another instance stops at once and takes another id', async () => {
    const a = lease(store, clock).l;
    await a.tick();
    const w = a.workerId!;
    // a's heartbeat lapses by the database clock (a paused process), b takes its id
    db.advance(3001);
    const b = lease(store, clock, { setting: { mode: 'static', workerId: w } }).l;
    await b.tick();
    expect(b.workerId).toBe(w);
    await a.tick(); // a's renewal is a compare-and-set: it fails
    expect(a.permit(clock.now())).toBeUndefined();
    expect(a.workerId).toBeNull();
    await a.tick();
    expect(a.workerId).not.toBeNull();
    expect(a.workerId).not.toBe(w);
  });

  it('prefers ids whose reservation has passed, lowest first, and opens the pool a block at a time', async () => {
    const setting = { mode: 'lease' as const, from: 0, to: 2999 };
    await store.seed(0, 2);
    store.rows.get(0)!.reservedUntil = T0 + 60_000; // released with a reservation ahead of the clock
    const l = lease(store, clock, { setting, seedBlock: 1024 }).l;
    await l.tick();
    expect(l.workerId).toBe(1);
    expect(store.rows.size).toBe(1024);
    // fill the first block: the next one opens
    for (let id = 0; id < 1024; id++) Object.assign(store.rows.get(id)!, { instanceId: 'x', heartbeat: db.now() });
    const m = lease(store, clock, { setting, seedBlock: 1024 }).l;
    await m.tick();
    expect(m.workerId).toBe(1024);
    expect(store.rows.size).toBe(2048);
  });

  it('a static id held by a live instance: not ready, saying who, until that lease lapses and its reservation passes', async () => {
    const setting = { mode: 'static' as const, workerId: 9 };
    const a = lease(store, clock, { setting }).l;
    await a.tick();
    expect(a.workerId).toBe(9);
    const b = lease(store, clock, { setting }).l;
    await b.tick();
    expect(b.workerId).toBeNull();
    expect(b.reason(clock.now())).toMatch(/static worker id 9 is held by another instance \(heartbeat 0 ms ago\)/);
    // the holder's identity is for the log, not for readiness (unauthenticated)
    expect(b.reason(clock.now())).not.toMatch(/host-a|pid/);
    // a dies (no more renewals)
    clock.advance(3001);
    db.advance(3001);
    await b.tick();
    expect(b.workerId).toBe(9);
    // a's reservation ended at T0 + 3000 < now: b issues at once
    expect(b.permit(clock.now())).toBeDefined();
  });

  it('a restart with the clock behind the reservation waits, then gives up with a clear message', async () => {
    const setting = { mode: 'ordinal' as const, workerId: 3 };
    await store.seed(3, 3);
    store.rows.get(3)!.reservedUntil = T0 + 120_000; // the last run's clock was 2 min ahead
    const { l, fatal } = lease(store, clock, { setting, startWaitMs: 60_000 });
    await l.start();
    expect(l.workerId).toBe(3);
    expect(l.status(clock.now())).toMatchObject({ usable: false, reason: expect.stringMatching(/waiting for the clock to pass/) });
    clock.advance(59_000);
    await l.tick();
    expect(fatal).toEqual([]);
    clock.advance(1_001);
    await l.tick();
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(/clock is 59999 ms behind the reservation of worker id 3 .* waited SNOWFLAKE_START_WAIT_MS=60000 ms/);
    expect(store.rows.get(3)).toMatchObject({ instanceId: null, reservedUntil: T0 + 120_000 }); // released, reservation kept
    await l.stop();
  });

  it('the database down at start: not ready, saying so, then takes an id when it answers', async () => {
    store.down = true;
    const l = lease(store, clock).l;
    await l.tick();
    expect(l.reason(clock.now())).toBe('cannot take a worker id: the database does not answer');
    store.down = false;
    await l.tick();
    expect(l.permit(clock.now())).toBeDefined();
  });
});
