import { FakeClock, IdError } from '@app/core';
import { IssuePermit, PermitSource, SnowflakeGenerator, SnowflakeGeneratorOptions } from './snowflake-generator';
import { SnowflakeLayout } from './snowflake-layout';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const layout = SnowflakeLayout.parse('41,10,12', '2025-01-01T00:00:00Z');

/** A lease a test sets by hand. */
class FakePermits implements PermitSource {
  current?: IssuePermit = { workerId: 7, afterMs: 0, untilMs: Number.MAX_SAFE_INTEGER, generation: 1 };
  why = 'no lease';
  permit(now: number): IssuePermit | undefined {
    const p = this.current;
    return p && now > p.afterMs && now <= p.untilMs ? p : undefined;
  }
  reason(): string {
    return this.why;
  }
  set(p: Partial<IssuePermit>): void {
    this.current = { ...(this.current as IssuePermit), ...p };
  }
}

function setup(over: Partial<SnowflakeGeneratorOptions> = {}) {
  const clock = (over.clock as FakeClock | undefined) ?? new FakeClock(T0);
  const permits = new FakePermits();
  const gen = new SnowflakeGenerator({ layout, permits, maxBackwardMs: 5, maxBorrowMs: 16, sleep: () => Promise.resolve(), ...over, clock });
  return { clock, permits, gen };
}

const sync = (r: string[] | Promise<string[]>): string[] => {
  if (!Array.isArray(r)) throw new Error('expected a synchronous answer');
  return r;
};
const decode = (id: string) => layout.decode(id);
const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return e instanceof IdError ? e.code : `not an IdError: ${String(e)}`;
  }
  return 'no error';
};

function expectStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    if (!(BigInt(ids[i]) > BigInt(ids[i - 1]))) throw new Error(`not increasing at ${i}: ${ids[i - 1]} then ${ids[i]}`);
  }
}

describe('SnowflakeGenerator', () => {
  it('answers synchronously with ids of its worker id and the clock ms', () => {
    const { gen } = setup();
    const ids = sync(gen.next(3));
    for (const id of ids) expect(decode(id)).toMatchObject({ timestampMs: T0, workerId: 7 });
    expectStrictlyIncreasing(ids);
  });

  it('4,096+ ids in one ms go on in the next ms, none repeated, the sequence never wraps', () => {
    const { gen } = setup();
    // one at a time with the clock standing still: the first ms runs out, the next ones follow
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(...sync(gen.next(1)));
    // and a batch
    ids.push(...sync(gen.next(10_000)));
    expect(new Set(ids).size).toBe(20_000);
    expectStrictlyIncreasing(ids);
    const ms = new Map<number, number>();
    for (const id of ids) {
      const d = decode(id);
      ms.set(d.timestampMs, (ms.get(d.timestampMs) ?? 0) + 1);
    }
    expect(Math.min(...ms.keys())).toBe(T0);
    expect(Math.max(...ms.keys())).toBeLessThanOrEqual(T0 + 5);
    for (const n of ms.values()) expect(n).toBeLessThanOrEqual(4096);
    expect([...ms.keys()].sort()).toEqual([T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4].slice(0, ms.size));
  });

  it('starts each ms from the clock at a small random offset, and a borrowed ms at 0', () => {
    let r = 0.5;
    const { gen, clock } = setup({ random: () => r });
    expect(decode(sync(gen.next(1))[0]).sequence).toBe(64); // 0.5 * 128
    clock.advance(1);
    r = 0.999;
    expect(decode(sync(gen.next(1))[0]).sequence).toBe(127);
    clock.advance(1);
    r = 0;
    const batch = sync(gen.next(4097));
    expect(decode(batch[4096])).toMatchObject({ timestampMs: clock.now() + 1, sequence: 0 });

    // with Math.random the first ids of 2,000 ms spread over the offsets: id % 2 and % 4 stay even
    const even = setup();
    const firsts: number[] = [];
    for (let i = 0; i < 2000; i++) {
      even.clock.advance(1);
      firsts.push(decode(sync(even.gen.next(1))[0]).sequence);
    }
    expect(Math.max(...firsts)).toBeLessThan(128);
    expect(new Set(firsts).size).toBeGreaterThan(100);
    const odd = firsts.filter((s) => s % 2 === 1).length;
    expect(odd).toBeGreaterThan(800);
    expect(odd).toBeLessThan(1200);
  });

  it('borrows at most maxBorrowMs ahead, then waits for the clock (a Promise), never wrapping', async () => {
    const { gen, clock } = setup({ sleep: async () => clock.advance(1) });
    const ids: string[] = [];
    // 16 ms of borrowing in sync answers
    let first: string[] | Promise<string[]>;
    do {
      first = gen.next(1000);
      if (Array.isArray(first)) ids.push(...first);
    } while (Array.isArray(first) && ids.length < 200_000);
    expect(ids.length).toBeLessThan(200_000);
    expect(decode(ids[ids.length - 1]).timestampMs - T0).toBeLessThanOrEqual(16);
    ids.push(...(await first)); // the clock moved on while it waited
    expect(clock.now()).toBeGreaterThan(T0);
    expect(new Set(ids).size).toBe(ids.length);
    expectStrictlyIncreasing(ids);
  });

  it('a 3 ms step back is waited out; ids stay increasing', async () => {
    const { gen, clock } = setup({ sleep: () => new Promise((r) => setTimeout(r, 1)) });
    const before = sync(gen.next(5));
    clock.advance(-3);
    const pending = gen.next(5);
    expect(pending).toBeInstanceOf(Promise);
    expect(gen.clockBehindMs(clock.now())).toBe(0); // within the tolerance: still ready
    clock.advance(3);
    const after = await pending;
    expectStrictlyIncreasing([...before, ...after]);
    expect(decode(after[0]).timestampMs).toBeGreaterThanOrEqual(T0);
  });

  it('a 10 s step back answers CLOCK_BACKWARDS, not ready, until the clock passes the last timestamp', () => {
    const { gen, clock } = setup();
    const before = sync(gen.next(100));
    const last = decode(before[99]).timestampMs;
    clock.advance(-10_000);
    expect(codeOf(() => gen.next(1))).toBe('CLOCK_BACKWARDS');
    expect(gen.clockBehindMs(clock.now())).toBeGreaterThan(9_000);
    clock.advance(9_999); // 1 ms short: within the 5 ms tolerance but still refused until it passes
    expect(codeOf(() => gen.next(1))).toBe('CLOCK_BACKWARDS');
    expect(gen.clockBehindMs(clock.now())).toBeGreaterThan(0);
    clock.advance(1); // at the last timestamp
    expect(codeOf(() => gen.next(1))).toBe('CLOCK_BACKWARDS');
    clock.advance(1); // past it
    expect(gen.clockBehindMs(clock.now())).toBe(0);
    const after = sync(gen.next(100));
    expect(decode(after[0]).timestampMs).toBeGreaterThan(last);
    expectStrictlyIncreasing([...before, ...after]);
    expect(new Set([...before, ...after]).size).toBe(200);
  });

  it('a CLOCK_BACKWARDS answer carries Retry-After in seconds', () => {
    const { gen, clock } = setup();
    gen.next(1);
    clock.advance(-10_000);
    try {
      gen.next(1);
      throw new Error('expected CLOCK_BACKWARDS');
    } catch (e) {
      expect((e as IdError).status).toBe(503);
      expect((e as IdError).retryAfter).toBe(10);
      expect((e as IdError).message).toMatch(/10000 ms behind/);
    }
  });

  it('a step back that does not recover within the wait gives up with CLOCK_BACKWARDS', async () => {
    let t = 0;
    const { gen, clock } = setup({ maxWaitMs: 50, monotonic: () => t, sleep: async (ms) => void (t += ms) });
    gen.next(1);
    clock.advance(-4);
    await expect(gen.next(1)).rejects.toMatchObject({ code: 'CLOCK_BACKWARDS' });
  });

  it('without a lease: 503 WORKER_LEASE_LOST saying why', () => {
    const { gen, permits } = setup();
    permits.current = undefined;
    permits.why = 'all 3 worker ids are held';
    expect(() => gen.next(1)).toThrow(/all 3 worker ids are held/);
    expect(codeOf(() => gen.next(1))).toBe('WORKER_LEASE_LOST');
  });

  it('never issues a timestamp beyond the reservation; a batch that would cross it fails whole', () => {
    const { gen, clock, permits } = setup({ random: () => 0 });
    permits.set({ untilMs: T0 + 1 });
    const a = sync(gen.next(4096)); // all of T0
    expect(codeOf(() => gen.next(4097))).toBe('WORKER_LEASE_LOST'); // would need T0 + 2
    const b = sync(gen.next(4096)); // all of T0 + 1, nothing was used by the failed batch
    expect(decode(b[0])).toMatchObject({ timestampMs: T0 + 1, sequence: 0 });
    expect(codeOf(() => gen.next(1))).toBe('WORKER_LEASE_LOST');
    clock.advance(2); // the clock beyond the reservation: no permit at all
    expect(codeOf(() => gen.next(1))).toBe('WORKER_LEASE_LOST');
    permits.set({ untilMs: T0 + 10_000 }); // renewed: resumes
    const c = sync(gen.next(1));
    expect(new Set([...a, ...b, ...c]).size).toBe(8193);
    expectStrictlyIncreasing([...a, ...b, ...c]);
  });

  it('issues only above the previous holder’s reservation, and above its own ids after a new lease', () => {
    const { gen, clock, permits } = setup();
    const a = sync(gen.next(10));
    // the lease was lost and taken again (the same worker id): its reservation was ahead of us
    permits.set({ generation: 2, afterMs: T0 + 50 });
    clock.advance(51);
    const b = sync(gen.next(10));
    expect(decode(b[0]).timestampMs).toBeGreaterThan(T0 + 50);
    // a different worker id in the same ms as our last id: still strictly increasing
    permits.set({ generation: 3, workerId: 2, afterMs: 0 });
    const c = sync(gen.next(10));
    expect(decode(c[0]).workerId).toBe(2);
    expect(decode(c[0]).timestampMs).toBeGreaterThan(decode(b[9]).timestampMs);
    expectStrictlyIncreasing([...a, ...b, ...c]);
  });

  it('refuses ids past the layout’s end of life with ID_SPACE_EXHAUSTED', () => {
    const { gen } = setup({ clock: new FakeClock(layout.lastValidMs) });
    expect(sync(gen.next(1))).toHaveLength(1);
    expect(codeOf(() => gen.next(5000))).toBe('ID_SPACE_EXHAUSTED');
  });

  it('the two-halves text equals BigInt text, carries into the prefix included', () => {
    // a ms whose low nine digits sit just under 10^9 for worker 7: the sequence carries over
    let ms = T0;
    const near = (m: number) => Number(layout.compose(m, 7, 0) % 1_000_000_000n) > 1_000_000_000 - 4096;
    while (!near(ms)) ms++;
    for (const start of [ms, T0]) {
      const a = setup({ clock: new FakeClock(start), random: () => 0, text: 'halves' });
      const b = setup({ clock: new FakeClock(start), random: () => 0, text: 'bigint' });
      for (let i = 0; i < 50; i++) {
        const x = sync(a.gen.next(4096));
        const y = sync(b.gen.next(4096));
        expect(x).toEqual(y);
        a.clock.advance(1);
        b.clock.advance(1);
      }
    }
    // and against compose over random instants
    const r = setup({ random: () => 0 });
    for (let i = 0; i < 2000; i++) {
      r.clock.set(layout.epochMs + 1 + Math.floor(Math.random() * (layout.maxTimeField - 100)));
      r.gen['maxNow'] = -1; // forget the previous reading: a fresh instance at a random time
      r.gen['lastMs'] = -1;
      const [id] = sync(r.gen.next(1));
      expect(id).toBe(layout.compose(r.clock.now(), 7, 0).toString());
    }
  });
});
