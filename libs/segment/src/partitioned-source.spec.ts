import { IdError } from '@app/core';
import { PartitionStore } from './partition-store';
import { PartitionedSource } from './partitioned-source';

class FakePartition implements PartitionStore {
  n = -1n;
  down = false;
  allocations = 0;
  constructor(readonly idx: number) {}
  async allocate(): Promise<bigint> {
    if (this.down) throw new IdError('DATABASE_UNAVAILABLE', `partition ${this.idx} down`);
    this.allocations++;
    return ++this.n;
  }
  async current(): Promise<bigint> {
    return this.n;
  }
  async skipTo(next: bigint): Promise<void> {
    if (next <= this.n) throw new IdError('SKIP_BACKWARDS', 'back');
    this.n = next - 1n;
  }
}

const log = { error: jest.fn(), warn: jest.fn() };

describe('PartitionedSource', () => {
  it("does go-id-alloc's arithmetic in the application: segment n * P + (p - 1), ids from 1, never 0", async () => {
    const p1 = new FakePartition(1);
    const p2 = new FakePartition(2);
    const one = new PartitionedSource([p1], 2, 1000, log);
    const two = new PartitionedSource([p2], 2, 1000, log);
    expect(await one.fetch()).toEqual({ start: 1n, end: 1001n, lane: '1' }); // segment 0
    expect(await two.fetch()).toEqual({ start: 1001n, end: 2001n, lane: '2' }); // segment 1
    expect(await one.fetch()).toEqual({ start: 2001n, end: 3001n, lane: '1' }); // segment 2
    expect(await two.fetch()).toEqual({ start: 3001n, end: 4001n, lane: '2' }); // segment 3
  });

  it('prefers its own partition and fails over to another when it is down, with no operator step', async () => {
    const own = new FakePartition(1);
    const other = new FakePartition(2);
    const source = new PartitionedSource([own, other], 2, 10, log);
    expect((await source.fetch()).lane).toBe('1');
    own.down = true;
    expect((await source.fetch()).lane).toBe('2');
    expect(source.detail()).toMatchObject({ partitions: { '1': { status: 'down' }, '2': { status: 'up' } } });
    expect(source.allDown).toBe(false);
    other.down = true;
    await expect(source.fetch()).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    expect(source.allDown).toBe(true);
  });

  it('halts a partition whose database rolled back and serves from the others; a skip resumes it above the id', async () => {
    const own = new FakePartition(1);
    const other = new FakePartition(2);
    const source = new PartitionedSource([own, other], 2, 10, log);
    await source.fetch(); // own n=0: segment 0
    await source.fetch(); // own n=1: segment 2
    own.n = -1n; // restored from a lagging replica
    const range = await source.fetch(); // own hands out segment 0 again: refused
    expect(range.lane).toBe('2');
    expect(log.error).toHaveBeenCalledWith(expect.stringContaining('ROLLBACK on partition 1'));
    expect(source.detail()).toMatchObject({ partitions: { '1': { status: 'down', reason: expect.stringMatching(/rolled back/) } } });
    const skipped = await source.skip(1, 1000n);
    expect(skipped.firstId).toBeGreaterThan(1000n);
    const after = await source.fetch();
    expect(after.lane).toBe('1');
    expect(after.start).toBe(skipped.firstId);
    expect(after.start).toBeGreaterThan(1000n);
  });

  it('stays below 2^53: the last range is cut there, the next is ID_SPACE_EXHAUSTED', async () => {
    const p = new FakePartition(1);
    const source = new PartitionedSource([p], 1, 1_000_000, log);
    p.n = BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000)) - 1n;
    const last = await source.fetch();
    expect(last.end).toBe(BigInt(Number.MAX_SAFE_INTEGER) + 1n);
    await expect(source.fetch()).rejects.toMatchObject({ code: 'ID_SPACE_EXHAUSTED' });
    expect(source.spaceUsed).toBeCloseTo(1, 6);
  });
});
