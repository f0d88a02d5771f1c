import { FakeClock, IdError } from '@app/core';
import { FetchedRange, RangeSource, SegmentBuffer, SegmentBufferOptions } from './segment-buffer';

/** leaf_alloc in memory: max_id advanced by each fetch; fetches may be held by the test. */
class FakeLeafStore implements RangeSource {
  calls: number[] = [];
  hold = false;
  failWith?: unknown;
  private held: (() => void)[] = [];

  constructor(public maxId: bigint) {}

  fetch(step: number): Promise<FetchedRange> {
    this.calls.push(step);
    const run = (): FetchedRange => {
      if (this.failWith !== undefined) throw this.failWith;
      this.maxId += BigInt(step);
      return { start: this.maxId - BigInt(step), end: this.maxId };
    };
    if (!this.hold) return Promise.resolve().then(run);
    return new Promise((resolve, reject) =>
      this.held.push(() => {
        try {
          resolve(run());
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  release(): void {
    this.hold = false;
    for (const f of this.held.splice(0)) f();
  }

  get pending(): number {
    return this.held.length;
  }
}

const settle = () => new Promise((r) => setImmediate(r));

function buffer(store: RangeSource, options: Partial<SegmentBufferOptions> = {}) {
  return new SegmentBuffer('k', store, {
    preload: 0.1,
    waitMs: 1000,
    step: 100,
    stepMax: 1_000_000,
    dynamicStep: false,
    ...options,
  });
}

describe('SegmentBuffer', () => {
  it('waits for the first segment, then serves synchronously in order', async () => {
    const store = new FakeLeafStore(1n);
    const b = buffer(store);
    const first = b.take(3);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toEqual(['1', '2', '3']);
    const next = b.take(2);
    expect(next).toEqual(['4', '5']); // an array, not a Promise
  });

  it('fetches the next segment once the preload share of the current is used, not before', async () => {
    const store = new FakeLeafStore(1n);
    const b = buffer(store); // step 100, preload 0.1
    await b.take(1);
    await settle();
    b.take(8); // 9 of 100 used
    await settle();
    expect(store.calls).toHaveLength(1);
    b.take(1); // 10 of 100 used
    expect(store.calls).toHaveLength(2);
    await settle();
    expect(b.state().nextSegment).toEqual({ start: '101', end: '201', next: '101' });
    // with current and next both held, no more fetches
    b.take(50);
    await settle();
    expect(store.calls).toHaveLength(2);
  });

  it('keeps one fetch in flight for 1,000 concurrent callers, and serves them all', async () => {
    const store = new FakeLeafStore(1n);
    store.hold = true;
    const b = buffer(store, { step: 1000 });
    const calls = Array.from({ length: 1000 }, () => b.take(1) as Promise<string[]>);
    expect(store.calls).toHaveLength(1);
    expect(store.pending).toBe(1);
    store.release();
    const ids = (await Promise.all(calls)).flat();
    expect(ids).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);
    expect(ids[0]).toBe('1');
    expect(ids[999]).toBe('1000');
  });

  it('answers 503 SEGMENT_UNAVAILABLE after the wait deadline when no segment comes, consuming nothing', async () => {
    const store = new FakeLeafStore(1n);
    store.hold = true;
    const b = buffer(store, { waitMs: 50 });
    const started = Date.now();
    await expect(b.take(1)).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE', status: 503 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    store.release();
    await settle();
    expect(b.take(1)).toEqual(['1']); // the late segment is intact
  });

  it('retries a failed fetch within the deadline and serves when the database comes back', async () => {
    const store = new FakeLeafStore(1n);
    store.failWith = new IdError('DATABASE_UNAVAILABLE', 'down');
    const b = buffer(store, { waitMs: 2000 });
    const pending = b.take(2);
    await new Promise((r) => setTimeout(r, 120));
    expect(store.calls.length).toBeGreaterThanOrEqual(2); // backed off and tried again
    expect(b.state().ready).toBe(false);
    store.failWith = undefined;
    expect(await pending).toEqual(['1', '2']);
    expect(b.state().ready).toBe(true);
  });

  it('rejects waiters at once for an exhausted key', async () => {
    const store = new FakeLeafStore(1n);
    store.failWith = new IdError('ID_SPACE_EXHAUSTED', 'full');
    const b = buffer(store, { waitMs: 5000 });
    const started = Date.now();
    await expect(b.take(1)).rejects.toMatchObject({ code: 'ID_SPACE_EXHAUSTED' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  describe('dynamic step', () => {
    it('doubles while segments last under 15 min, up to the max; keeps 15-30 min; halves over 30, not below the stored step', async () => {
      const clock = new FakeClock();
      const store = new FakeLeafStore(1n);
      const b = buffer(store, { step: 100, stepMax: 400, dynamicStep: true, clock, preload: 0.5 });
      const useUp = async () => {
        // drain what is held: exactly one fetch, at the clock's time, brings the next segment
        b.take(b.idsLeft);
        await b.take(1);
        await settle();
      };
      await b.take(1);
      expect(store.calls).toEqual([100]);
      clock.advance(60_000); // 1 min
      await useUp();
      expect(store.calls.at(-1)).toBe(200);
      clock.advance(60_000);
      await useUp();
      expect(store.calls.at(-1)).toBe(400);
      clock.advance(60_000);
      await useUp();
      expect(store.calls.at(-1)).toBe(400); // at the max
      clock.advance(20 * 60_000); // 20 min: keep
      await useUp();
      expect(store.calls.at(-1)).toBe(400);
      clock.advance(40 * 60_000); // 40 min: halve
      await useUp();
      expect(store.calls.at(-1)).toBe(200);
      clock.advance(40 * 60_000);
      await useUp();
      expect(store.calls.at(-1)).toBe(100);
      clock.advance(40 * 60_000);
      await useUp();
      expect(store.calls.at(-1)).toBe(100); // never below the stored step
    });

    it('is off with dynamicStep false', async () => {
      const clock = new FakeClock();
      const store = new FakeLeafStore(1n);
      const b = buffer(store, { step: 100, dynamicStep: false, clock });
      await b.take(1);
      b.take(50);
      await settle();
      expect(store.calls).toEqual([100, 100]);
    });
  });

  describe('rollback guard', () => {
    it('refuses a range starting below the watermark (partial rollback), halts, and issues nothing', async () => {
      const store = new FakeLeafStore(9000n);
      const rollbacks: unknown[] = [];
      const b = buffer(store, { step: 1000, onRollback: (r) => rollbacks.push(r) });
      await b.take(1); // [9000, 10000): watermark 10,000
      store.maxId = 9500n; // the database comes back from a replica that lagged
      const issued = b.take(100) as string[]; // passes the preload share: fetch [9500, 10500)
      expect(issued[0]).toBe('9001');
      await settle();
      expect(store.calls).toHaveLength(2);
      expect(rollbacks).toEqual([{ lane: '', watermark: 10000n, fetchedStart: 9500n }]);
      expect(b.isHalted).toBe(true);
      expect(() => b.take(1)).toThrow(expect.objectContaining({ code: 'SEGMENT_UNAVAILABLE' }));
      expect(b.idsLeft).toBe(0); // held ids dropped: another instance may issue them now
      expect(b.state().reason).toMatch(/rolled back.*9500.*10000/);
      await settle();
      expect(store.calls).toHaveLength(2); // it does not fetch its way past the gap
    });

    it('resumes after an admin skip, above everything issued', async () => {
      const store = new FakeLeafStore(9000n);
      const b = buffer(store, { step: 1000 });
      await b.take(1);
      store.maxId = 9500n;
      b.take(100);
      await settle();
      expect(b.isHalted).toBe(true);
      store.maxId = 20_000n; // the admin skip
      b.resume();
      expect(await b.take(1)).toEqual(['20000']);
    });

    it('rejects waiters with the rollback when the halt happens while they wait', async () => {
      const store = new FakeLeafStore(1n);
      const b = buffer(store, { step: 10, preload: 0.9 });
      await b.take(1);
      await b.take(9); // current used up, the next fetch brought [11, 21)
      await settle();
      store.maxId = 5n;
      b.take(10);
      const waiting = b.take(5);
      await expect(waiting).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE', message: expect.stringMatching(/rolled back/) });
    });
  });

  it('serves a batch spanning several segments, all or nothing', async () => {
    const store = new FakeLeafStore(1n);
    const b = buffer(store, { step: 100 });
    const ids = await b.take(250);
    expect(ids).toHaveLength(250);
    expect(ids.map(Number)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(store.calls.length).toBeGreaterThanOrEqual(3);
  });

  it('consumes nothing from a batch that cannot complete', async () => {
    const store = new FakeLeafStore(1n);
    const b = buffer(store, { step: 100, waitMs: 100 });
    await b.take(1);
    await settle();
    store.failWith = new IdError('DATABASE_UNAVAILABLE', 'down');
    const before = b.idsLeft;
    await expect(b.take(500)).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE' });
    expect(b.idsLeft).toBe(before);
    expect(b.take(1)).toEqual(['2']);
  });

  it('issues ids above 2^53 exactly', async () => {
    const store = new FakeLeafStore(9007199254740990n); // 2^53 - 2
    const b = buffer(store, { step: 5 });
    expect(await b.take(5)).toEqual(['9007199254740990', '9007199254740991', '9007199254740992', '9007199254740993', '9007199254740994']);
    const top = new FakeLeafStore(9223372036854775800n);
    const t = buffer(top, { step: 7 });
    expect((await t.take(7)).at(-1)).toBe('9223372036854775806');
  });

  it('a skip observed while a fetch is in flight discards its result and drops every range held', async () => {
    const store = new FakeLeafStore(1n);
    const b = buffer(store);
    await b.take(1); // [1, 101)
    b.take(20); // preload [101, 201) starts
    store.hold = true;
    await settle();
    // the preload fetch was already sent before hold; take the rest and start another under hold
    b.take(b.idsLeft - 1);
    await settle();
    expect(store.pending).toBe(1);
    store.maxId = 10_001n; // the admin skip moved max_id
    b.skipObserved();
    expect(b.idsLeft).toBe(0);
    store.release(); // the held fetch lands at [10001, 10101) but was in flight at the skip
    await settle();
    await settle();
    const ids = (await b.take(2)) as string[];
    expect(ids.map(Number).every((id) => id > 10_100)).toBe(true);
  });

  it('the smallest skip target leaves out ranges fetched but never issued', async () => {
    const store = new FakeLeafStore(1n);
    const b = buffer(store);
    await b.take(5); // issued 1..5 of [1, 101)
    await settle(); // no preload yet (5% used)
    b.observe('', 101n); // our own fetch's end, read by a poll: not another instance's draw
    expect(b.smallestTarget()).toBe(6n);
    b.observe('', 700n); // another instance drew up to 700
    expect(b.smallestTarget()).toBe(701n);
  });

  it('a PATCHed step is not undone by a fetch that was in flight', async () => {
    const store = new FakeLeafStore(1n);
    const b = buffer(store, { step: 100 });
    store.hold = true;
    const first = b.take(1);
    b.setStoredStep(500);
    store.release();
    await first;
    expect(b.state().stepInUse).toBe(500);
  });

  it('serves waiters in arrival order at O(1) each, bounded', async () => {
    const store = new FakeLeafStore(1n);
    store.hold = true;
    const b = buffer(store, { maxWaiters: 3, step: 10 });
    const big = b.take(15) as Promise<string[]>;
    const small = b.take(1) as Promise<string[]>;
    const third = b.take(1) as Promise<string[]>;
    expect(() => b.take(1)).toThrow(expect.objectContaining({ code: 'SEGMENT_UNAVAILABLE', message: expect.stringMatching(/too many/) }));
    store.release();
    const [a, c, d] = await Promise.all([big, small, third]);
    expect(a.map(Number)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(c).toEqual(['16']);
    expect(d).toEqual(['17']);
  });

  it('a timed-out big batch leaves its set-aside ids to those behind it, unissued', async () => {
    jest.useFakeTimers();
    try {
      const store = new FakeLeafStore(1n);
      const b = buffer(store, { step: 10, waitMs: 100 });
      await b.take(1);
      store.failWith = new IdError('DATABASE_UNAVAILABLE', 'down');
      const big = b.take(5000) as Promise<string[]>;
      const small = b.take(1) as Promise<string[]>;
      const bigFailed = expect(big).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE' });
      jest.advanceTimersByTime(150);
      await bigFailed;
      expect(await small).toEqual(['2']);
    } finally {
      jest.useRealTimers();
    }
  });
});
