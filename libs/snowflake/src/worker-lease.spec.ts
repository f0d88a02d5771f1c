import { FakeClock } from '@app/core';
import { SnowflakeGenerator } from './snowflake-generator';
import { SnowflakeLayout } from './snowflake-layout';
import { AcquiredWorker, Claimant, judgeLeaseWriters, WorkerHolder, WorkerLease, WorkerLeaseOptions, WorkerLeaseStore, WriterRecord } from './worker-lease';

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
      .sort(
        ([a, x], [b, y]) =>
          Number(x.instanceId !== null) - Number(y.instanceId !== null) ||
          Math.max(x.reservedUntil, nowMs) - Math.max(y.reservedUntil, nowMs) ||
          a - b,
      );
    if (free.length === 0) return null;
    const [id, r] = free[0];
    const takenOver = r.instanceId !== null;
    Object.assign(r, { instanceId: c.instanceId, host: c.host, pid: c.pid, heartbeat: this.dbClock.now() });
    return { workerId: id, reservedUntil: r.reservedUntil, takenOver };
  }
  async claim(workerId: number, c: Claimant, leaseMs: number) {
    this.check();
    const r = this.rows.get(workerId);
    if (!r || !(r.instanceId === c.instanceId || this.free(r, leaseMs))) return null;
    const takenOver = r.instanceId !== null && r.instanceId !== c.instanceId;
    Object.assign(r, { instanceId: c.instanceId, host: c.host, pid: c.pid, heartbeat: this.dbClock.now() });
    return { workerId, reservedUntil: r.reservedUntil, takenOver };
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
  async release(workerId: number, instanceId: string, untilMs: number) {
    this.check();
    const r = this.rows.get(workerId);
    if (r && r.instanceId === instanceId) Object.assign(r, { instanceId: null, heartbeat: null, reservedUntil: untilMs });
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

/**
 * Two generators sharing a worker id, each asked for one id every 250 ms of both clocks for `ms`;
 * every id checked against `seen`. `at(t)` runs after each step. Returns, per generator, how many
 * it issued and the timestamp of its first.
 */
async function issueSideBySide(
  gens: SnowflakeGenerator[],
  clocks: FakeClock[],
  seen: Set<string>,
  ms: number,
  at: (t: number) => Promise<void> = async () => undefined,
): Promise<{ issued: number; firstMs: number }[]> {
  const out = gens.map(() => ({ issued: 0, firstMs: 0 }));
  for (let t = 0; t < ms; t += 250) {
    for (const c of clocks) c.advance(250);
    gens.forEach((g, i) => {
      try {
        for (const id of g.next(1) as string[]) {
          expect(seen.has(id)).toBe(false);
          seen.add(id);
          if (out[i].issued++ === 0) out[i].firstMs = layout.decode(id).timestampMs;
        }
      } catch {
        /* refused: waiting, or out of reservation */
      }
    });
    await at(t);
  }
  return out;
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
    // a takeover: holder 1 may have renewed past what the row shows (lost writes), so not above
    // its reservation (T0 + 3000) but above this clock + reserve (3000) + skew (0)
    const bound = clock.now() + 3000;
    expect(late.permit(clock.now())).toBeUndefined();
    expect(late.status(clock.now()).afterReservation).toBe(new Date(bound).toISOString());
    clock.advance(3001);
    db.advance(3001);
    await late.tick();
    expect(late.permit(clock.now())).toMatchObject({ workerId: 1, afterMs: bound });
  });

  it('a holder that issued nothing is released and taken again without a 1970-01-01 reservation in the log', async () => {
    store = new FakeStore(db);
    const setting = { mode: 'lease' as const, from: 5, to: 5 };
    const lines: string[] = [];
    const logger = { log: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const first = lease(store, clock, { setting, logger }).l;
    await first.start();
    await first.stop(); // a newcomer's first start and Ctrl-C, no snowflake id asked for
    expect(store.rows.get(5)).toMatchObject({ instanceId: null, reservedUntil: 0 });
    const second = lease(store, clock, { setting, logger }).l;
    await second.start();
    expect(second.permit(clock.now())).toMatchObject({ workerId: 5 });
    expect(lines).toEqual([
      expect.stringMatching(/^took worker id 5 \(lease\) as instance-\d+; no ids issued under it before$/),
      'released worker id 5; no ids issued under it, so the next holder need not wait',
      expect.stringMatching(/^took worker id 5 \(lease\) as instance-\d+; no ids issued under it before$/),
    ]);
    await second.stop();
  });

  it('the next holder, this instance after a restart included, issues only after the previous reservation', async () => {
    store = new FakeStore(db);
    const setting = { mode: 'lease' as const, from: 5, to: 5 };
    const lines: string[] = [];
    const logger = { log: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const first = lease(store, clock, { setting, logger }).l;
    await first.start();
    // a new database's row has no reservation: nothing to name (not 1970-01-01)
    expect(lines).toEqual([expect.stringMatching(/^took worker id 5 \(lease\) as instance-\d+; no ids issued under it before$/)]);
    const gen1 = generatorOn(first, clock);
    first.issuedBy(gen1);
    const before = gen1.next(10_000) as string[]; // more than one ms of sequence: borrows ahead of the clock
    expect(store.rows.get(5)!.reservedUntil).toBe(T0 + 3000);
    expect(gen1.lastTimestamp).toBeGreaterThan(T0);
    await first.stop(); // clean shutdown: released with the highest timestamp issued, not the whole reservation
    const reserved = gen1.lastTimestamp;
    expect(store.rows.get(5)).toMatchObject({ instanceId: null, reservedUntil: reserved });
    expect(first.permit(clock.now())).toBeUndefined();
    expect(() => gen1.next(1)).toThrow(/shutting down/);

    // the restart: same host, a new instance, at once
    const second = lease(store, clock, { setting, logger }).l;
    await second.tick();
    expect(second.workerId).toBe(5);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`; issuing only above the previous reservation ${new Date(reserved).toISOString()}$`)));
    expect(second.permit(clock.now())).toBeUndefined();
    expect(second.reason(clock.now())).toMatch(/waiting for the clock to pass the previous holder's reservation/);
    expect(second.status(clock.now())).toMatchObject({ held: true, usable: false });
    clock.advance(reserved - clock.now()); // at the reservation: still not
    await second.tick();
    expect(second.permit(clock.now())).toBeUndefined();
    clock.advance(1);
    await second.tick();
    const gen2 = generatorOn(second, clock);
    const after = gen2.next(1000) as string[];
    expect(layout.decode(after[0]).timestampMs).toBeGreaterThan(reserved);
    expect(new Set([...before, ...after]).size).toBe(11_000);
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
    // a's reservation ended at T0 + 3000 < now, but a lapsed holder costs reserve + skew
    expect(b.permit(clock.now())).toBeUndefined();
    clock.advance(3001);
    db.advance(3001);
    await b.tick();
    expect(b.permit(clock.now())).toBeDefined();
  });

  it('rides out a database stall longer than the lease: keeps issuing up to its reservation', async () => {
    const { l } = lease(store, clock, { reserveMs: 30_000 });
    await l.tick();
    const gen = generatorOn(l, clock);
    expect(store.rows.get(l.workerId!)!.reservedUntil).toBe(T0 + 30_000);
    store.down = true;
    let refused = 0;
    let issued = 0;
    for (let t = 0; t < 10_000; t += 100) {
      clock.advance(100);
      db.advance(100);
      if (t % 1000 === 0) await l.tick();
      try {
        issued += (gen.next(1) as string[]).length;
      } catch {
        refused++;
      }
    }
    expect(refused).toBe(0); // 10 s without the database, a 3 s lease: still issuing
    expect(issued).toBe(100);
    store.down = false;
    await l.tick();
    expect(store.rows.get(l.workerId!)!.reservedUntil).toBe(clock.now() + 30_000);
  });

  it('a takeover after lost writes: issues only above its clock + reserve + skew, never inside the live holder\'s reservation', async () => {
    const setting = { mode: 'lease' as const, from: 7, to: 7 };
    const holder = lease(store, clock, { setting, reserveMs: 30_000, maxSkewMs: 1000 }).l;
    await holder.tick();
    const genA = generatorOn(holder, clock);
    const a = genA.next(100) as string[];
    // a restore/async failover loses the holder's renewals: the row shows an old heartbeat and reservation
    Object.assign(store.rows.get(7)!, { heartbeat: db.now() - 10_000, reservedUntil: T0 - 5000 });
    store.down = true; // and the holder cannot reach it (still issuing on its reservation)
    const newcomer = lease(store, clock, { setting, reserveMs: 30_000, maxSkewMs: 1000 }).l;
    store.down = false;
    await newcomer.tick();
    store.down = true;
    expect(newcomer.workerId).toBe(7);
    const genB = generatorOn(newcomer, clock);
    const [, b] = await issueSideBySide([genA, genB], [clock, db], new Set(a), 40_000, async (t) => {
      if (t !== 35_000) return;
      store.down = false;
      await newcomer.tick();
      store.down = true;
    });
    expect(b.issued).toBeGreaterThan(0);
    expect(b.firstMs).toBeGreaterThan(T0 + 30_000 + 1000); // past the holder's committed reservation, skew included
  });

  it('prefers never-held and cleanly released ids over lapsed ones', async () => {
    await store.seed(0, 2);
    Object.assign(store.rows.get(0)!, { instanceId: 'gone', heartbeat: db.now() - 60_000, reservedUntil: 0 }); // lapsed
    Object.assign(store.rows.get(1)!, { reservedUntil: T0 + 10_000 }); // released, reserved ahead
    const l = lease(store, clock).l;
    await l.tick();
    expect(l.workerId).toBe(2);
    const m = lease(store, clock).l;
    await m.tick();
    expect(m.workerId).toBe(1);
    const k = lease(store, clock).l;
    await k.tick();
    expect(k.workerId).toBe(0);
  });

  it('a clean release is a compare-and-set on the instance id: it never erases the next holder\'s row', async () => {
    const setting = { mode: 'static' as const, workerId: 4 };
    const { l } = lease(store, clock, { setting });
    await l.tick();
    // lapsed and taken by another instance meanwhile
    Object.assign(store.rows.get(4)!, { instanceId: 'other', heartbeat: db.now(), reservedUntil: T0 + 99_000 });
    await l.stop();
    expect(store.rows.get(4)).toMatchObject({ instanceId: 'other', reservedUntil: T0 + 99_000 });
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

  describe('an acquisition the database lost in a failover (the row looks never held)', () => {
    /** a store that records which server takes lease writes, as the MySQL one does */
    class MovingStore extends FakeStore {
      writers: { name: string; since: number }[] = [{ name: 'primary', since: T0 - 86_400_000 }];
      serving = 'primary';
      records = 0;
      async writerSince(): Promise<WriterRecord> {
        if (this.down) throw new Error('connect ECONNREFUSED');
        this.records++;
        if (!this.writers.some((w) => w.name === this.serving)) this.writers.push({ name: this.serving, since: this.dbClock.now() });
        const now = this.dbClock.now();
        const acquired = [...this.rows.values()].flatMap((r) => (r.instanceId === null || r.heartbeat === null ? [] : [r.heartbeat]));
        const judged = judgeLeaseWriters({
          me: this.serving,
          writers: this.writers.map((w) => ({ name: w.name, sinceMs: w.since })),
          dbNowMs: now,
          oldestAcquiredMs: acquired.length === 0 ? null : Math.min(...acquired),
          slackMs: 2000,
        });
        if (judged.unrecorded !== null) this.writers.push({ name: 'unrecorded', since: judged.unrecorded });
        if (judged.again) this.writers.find((w) => w.name === this.serving)!.since = judged.record.sinceMs;
        return judged.record;
      }
    }
    const setting = { mode: 'lease' as const, from: 0, to: 0 };
    const opts = { setting, reserveMs: 30_000, maxSkewMs: 1000 };

    it('the holder still issues on its reservation, cut off; a newcomer after the failover issues only past it: no id twice', async () => {
      const moving = new MovingStore(db);
      const holder = lease(moving, clock, opts).l;
      await holder.tick();
      const genA = generatorOn(holder, clock);
      const seen = new Set<string>(genA.next(50) as string[]);
      // the replica never got the acquisition: promoted, the row is as it was before (never held)
      moving.rows.set(0, { instanceId: null, host: null, pid: null, reservedUntil: 0, heartbeat: null });
      moving.serving = 'replica';
      moving.down = true; // the holder is cut off from both hosts
      const newcomer = lease(moving, clock, opts).l;
      moving.down = false;
      await newcomer.tick();
      moving.down = true;
      expect(newcomer.workerId).toBe(0);
      expect(newcomer.permit(clock.now())).toBeUndefined();
      const genB = generatorOn(newcomer, clock);
      const [a, b] = await issueSideBySide([genA, genB], [clock, db], seen, 45_000, async (t) => {
        if (t !== 32_000) return;
        moving.down = false;
        await newcomer.tick();
      });
      expect(a.issued).toBeGreaterThan(50); // the old holder did issue while cut off
      expect(b.issued).toBeGreaterThan(10); // and the newcomer issued after the bound
    });

    it('a failback to the earlier primary that lost the replica-era acquisition: the newcomer still waits out the holder', async () => {
      const moving = new MovingStore(db);
      // a failover to the replica, long ago: its record is newer than the primary's
      moving.writers.push({ name: 'replica', since: db.now() - 3_600_000 });
      moving.serving = 'replica';
      const holder = lease(moving, clock, opts).l;
      await holder.tick();
      const genA = generatorOn(holder, clock);
      const seen = new Set<string>(genA.next(50) as string[]);
      // back to the old primary, which never got the acquisition; the holder is cut off
      moving.rows.set(0, { instanceId: null, host: null, pid: null, reservedUntil: 0, heartbeat: null });
      moving.serving = 'primary';
      const newcomer = lease(moving, clock, opts).l;
      await newcomer.tick();
      expect(newcomer.workerId).toBe(0);
      expect(newcomer.permit(clock.now() + 1)).toBeUndefined();
      expect(moving.writers.find((w) => w.name === 'primary')!.since).toBe(db.now()); // written again: the move back is now
      moving.down = true;
      const genB = generatorOn(newcomer, clock);
      const [a, b] = await issueSideBySide([genA, genB], [clock, db], seen, 45_000, async (t) => {
        if (t !== 32_000) return;
        moving.down = false;
        await newcomer.tick();
      });
      expect(a.issued).toBeGreaterThan(50);
      expect(b.issued).toBeGreaterThan(10);
    });

    it('a holder records the server taking its renewals three times per reservation', async () => {
      const moving = new MovingStore(db);
      const l = lease(moving, clock, { ...opts, reserveMs: 30_000 }).l;
      await l.tick();
      const atAcquire = moving.records;
      for (let i = 0; i < 30; i++) {
        clock.advance(1000);
        db.advance(1000);
        await l.tick();
      }
      expect(moving.records - atAcquire).toBe(3);
    });

    it('judgeLeaseWriters: a server back after another is recorded again and counts as moved now', () => {
      const writers = [
        { name: 'a', sinceMs: 1000 },
        { name: 'b', sinceMs: 5000 },
      ];
      const judge = (me: string, over: Partial<Parameters<typeof judgeLeaseWriters>[0]> = {}) =>
        judgeLeaseWriters({ me, writers, dbNowMs: 9000, oldestAcquiredMs: null, slackMs: 2000, ...over });
      const now = { sinceMs: 9000, dbNowMs: 9000, moved: true };
      expect(judge('a')).toEqual({ record: now, again: true, unrecorded: null });
      expect(judge('b')).toEqual({ record: { sinceMs: 5000, dbNowMs: 9000, moved: true }, again: false, unrecorded: null });
      // our record not read back (lost after the insert): the move is now, nothing to write again
      expect(judge('c')).toEqual({ record: now, again: false, unrecorded: null });
      expect(judge('a', { writers: [writers[0]] })).toEqual({ record: { sinceMs: 1000, dbNowMs: 9000, moved: false }, again: false, unrecorded: null });
    });

    it('judgeLeaseWriters: the only record, yet acquisitions older than it: earlier writers recorded on a copy that lost it', () => {
      const only = [{ name: 'a', sinceMs: 100_000 }];
      const judge = (oldestAcquiredMs: number | null) => judgeLeaseWriters({ me: 'a', writers: only, dbNowMs: 100_050, oldestAcquiredMs, slackMs: 10_000 });
      expect(judge(40_000)).toEqual({ record: { sinceMs: 100_050, dbNowMs: 100_050, moved: true }, again: true, unrecorded: 40_000 });
      // an acquisition just before its own record (a first start): nothing lost
      expect(judge(99_990).record.moved).toBe(false);
      expect(judge(null).record.moved).toBe(false);
      // once the unrecorded writers are on record, later acquisitions count from the move
      const after = judgeLeaseWriters({ me: 'a', writers: [{ name: 'a', sinceMs: 100_050 }, { name: 'unrecorded', sinceMs: 40_000 }], dbNowMs: 101_000, oldestAcquiredMs: 40_000, slackMs: 10_000 });
      expect(after).toEqual({ record: { sinceMs: 100_050, dbNowMs: 101_000, moved: true }, again: false, unrecorded: null });
    });

    it('an ordinary start on the server that has long taken lease writes waits for nothing', async () => {
      const moving = new MovingStore(db);
      moving.writers.push({ name: 'replica', since: db.now() - 3_600_000 });
      moving.serving = 'replica';
      const l = lease(moving, clock, opts).l;
      await l.tick();
      expect(l.permit(clock.now() + 1)).toBeDefined();
    });

    it('a new database (no server recorded before) waits for nothing', async () => {
      const moving = new MovingStore(db);
      moving.writers = [];
      const l = lease(moving, clock, opts).l;
      await l.tick();
      expect(l.permit(clock.now() + 1)).toBeDefined();
    });

    it('when it cannot tell whether the database moved, it waits a full reservation', async () => {
      const moving = new MovingStore(db);
      moving.writerSince = async () => {
        throw new Error('connect ECONNREFUSED');
      };
      const l = lease(moving, clock, opts).l;
      await l.tick();
      expect(l.permit(clock.now() + 1)).toBeUndefined();
      expect(l.reason(clock.now())).toMatch(/waiting for the clock to pass/);
    });
  });
});
