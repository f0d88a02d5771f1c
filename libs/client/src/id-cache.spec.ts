import { IdCache, IdCacheOptions, RefillAnswer } from './id-cache';

/** a refill whose answers the test releases by hand */
class FakeServer {
  next = 1n;
  readonly asked: number[] = [];
  private readonly pending: { count: number; resolve: (a: RefillAnswer) => void; reject: (e: unknown) => void }[] = [];
  constructor(private readonly format: 'ranges' | 'ids' = 'ranges') {}
  readonly refill = (count: number) =>
    new Promise<RefillAnswer>((resolve, reject) => {
      this.asked.push(count);
      this.pending.push({ count, resolve, reject });
    });
  get inFlight(): number {
    return this.pending.length;
  }
  async answerAll(): Promise<void> {
    for (const p of this.pending.splice(0)) {
      const first = this.next;
      this.next += BigInt(p.count);
      if (this.format === 'ranges') p.resolve({ ranges: [[first.toString(), (this.next - 1n).toString()]] });
      else p.resolve({ ids: Array.from({ length: p.count }, (_, i) => (first + BigInt(i)).toString()) });
    }
    await flush();
  }
  async failAll(error: unknown): Promise<void> {
    for (const p of this.pending.splice(0)) p.reject(error);
    await flush();
  }
}

const flush = () => new Promise((r) => setImmediate(r));

function cache(server: FakeServer, clock: { t: number }, options: Partial<IdCacheOptions> = {}): IdCache {
  return new IdCache(server.refill, {
    safeDistanceMs: 2000,
    maxBatch: 1000,
    maxInFlight: 4,
    maxHeld: 4000,
    minBatch: 10,
    now: () => clock.t,
    ...options,
  });
}

describe('IdCache', () => {
  it('hands out the ranges it receives in order, synchronously once filled', async () => {
    const server = new FakeServer();
    const clock = { t: 0 };
    const c = cache(server, clock);
    expect(c.take()).toBeUndefined(); // empty: a refill starts
    expect(server.inFlight).toBeGreaterThan(0);
    await server.answerAll();
    const ids = Array.from({ length: 15 }, () => c.take());
    expect(ids).toEqual(Array.from({ length: 15 }, (_, i) => String(i + 1)));
  });

  it('serves concurrent waiters from one round of requests, each after one refill', async () => {
    const server = new FakeServer();
    const clock = { t: 0 };
    const c = cache(server, clock);
    const waits = Array.from({ length: 100 }, () => c.take() ?? c.wait());
    await flush();
    const requestsBefore = server.asked.length;
    expect(server.asked.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(100);
    await server.answerAll();
    const ids = await Promise.all(waits);
    expect(new Set(ids).size).toBe(100);
    expect(requestsBefore).toBeLessThanOrEqual(4); // the background pair and one for the waiters beyond them
  });

  it('grows its requests with the drain rate and never holds more than maxHeld', async () => {
    const server = new FakeServer();
    const clock = { t: 0 };
    const c = cache(server, clock);
    const seen = new Set<string>();
    let repeats = 0;
    let maxHeld = 0;
    for (let step = 0; step < 200; step++) {
      clock.t += 1;
      for (let i = 0; i < 500; i++) {
        const id = c.take();
        if (id === undefined) break;
        if (seen.has(id)) repeats++;
        seen.add(id);
        maxHeld = Math.max(maxHeld, c.inHand + c.inFlight);
      }
      await server.answerAll();
      maxHeld = Math.max(maxHeld, c.inHand + c.inFlight);
    }
    expect(repeats).toBe(0);
    expect(maxHeld).toBeLessThanOrEqual(4000);
    expect(Math.max(...server.asked)).toBe(1000); // grew to maxBatch
    expect(seen.size).toBeGreaterThan(50_000);
  });

  it('drops list answers past their age, and never hands them out', async () => {
    const server = new FakeServer('ids');
    const clock = { t: 0 };
    let dropped = 0;
    const c = cache(server, clock, { maxAgeMs: 100, onDropped: (n) => (dropped += n) });
    c.take();
    await server.answerAll();
    expect(c.take()).toBe('1');
    clock.t = 101;
    const id = c.take(); // stale: dropped, a fresh refill starts
    expect(id).toBeUndefined();
    expect(dropped).toBeGreaterThan(0);
    await server.answerAll();
    expect(Number(c.take())).toBeGreaterThan(20);
  });

  it('keeps ids above 2^53 exact', async () => {
    const server = new FakeServer();
    server.next = 2n ** 63n - 30n;
    const clock = { t: 0 };
    const c = cache(server, clock);
    c.take();
    await server.answerAll();
    expect(c.take()).toBe((2n ** 63n - 30n).toString());
    expect(c.take()).toBe((2n ** 63n - 29n).toString());
  });

  it('tells the waiters a failed refill was for, and recovers on the next', async () => {
    const server = new FakeServer();
    const clock = { t: 0 };
    const c = cache(server, clock);
    const waiting = c.wait();
    await flush();
    await server.failAll(new Error('down'));
    await expect(waiting).rejects.toThrow('down');
    const again = c.wait();
    await flush();
    await server.answerAll();
    expect(await again).toBe('1');
  });

  it('rejects waiters and hands out nothing after close', async () => {
    const server = new FakeServer();
    const clock = { t: 0 };
    const c = cache(server, clock);
    c.take();
    await server.answerAll();
    const waiting = c.wait();
    c.close(new Error('closed'));
    await expect(waiting).rejects.toThrow('closed');
    expect(c.take()).toBeUndefined();
    expect(c.inHand).toBe(0);
  });
});
