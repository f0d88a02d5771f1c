import { IdError } from '@app/core';
import { LayoutFence, PartitionStore } from './partition-store';
import { NEW_LAYOUT_SEGMENT_SIZE, PartitionLayout, StartLayout } from './partition-layout';
import { PartitionLayoutKeeper } from './partition-layout-keeper';
import { PartitionedSource, PartitionTargets } from './partitioned-source';
import { FetchedRange } from './segment-buffer';

/** a partition table and its layout record in memory */
class FakePartition implements PartitionStore {
  n = -1n;
  down = false;
  allocations = 0;
  layouts: PartitionLayout[] = [];
  skips = 0n;
  constructor(readonly idx: number) {}
  private check(): void {
    if (this.down) throw new IdError('DATABASE_UNAVAILABLE', `partition ${this.idx} down`);
  }
  private get version(): number {
    return this.layouts.at(-1)?.version ?? 0;
  }
  async allocate() {
    this.check();
    this.allocations++;
    return { n: ++this.n, version: this.version };
  }
  async current(): Promise<bigint> {
    this.check();
    return this.n;
  }
  async readLayout() {
    this.check();
    const l = this.layouts.at(-1);
    return l ? { ...l } : null;
  }
  async insertLayout(l: PartitionLayout) {
    this.check();
    if (!this.layouts.some((x) => x.version === l.version)) this.layouts.push({ ...l });
  }
  async fence(f: LayoutFence, expected: number) {
    this.check();
    if (this.version !== expected) throw new IdError('VALIDATION_FAILED', 'stale');
    const last = ++this.n;
    this.layouts.push({ ...f, idx: this.idx, base: 0n, first: last + 1n, complete: false });
    this.skips = 0n;
    return last;
  }
  async completeLayout(version: number, base: bigint) {
    const l = this.layouts.find((x) => x.version === version)!;
    l.base = base;
    l.complete = true;
  }
  async skipTo(next: bigint): Promise<void> {
    this.check();
    if (next <= this.n) throw new IdError('SKIP_BACKWARDS', 'back');
    this.n = next - 1n;
    this.skips++;
  }
  async poll() {
    this.check();
    return { version: this.version, skips: this.skips, last: this.n };
  }
}

/** a source over fakes whose first layout (total, size) is recorded and checked */
async function checkedSource(stores: FakePartition[], total: number, size: number) {
  const source = new PartitionedSource(stores, total, log);
  const keeper = keeperOf(stores, { total, segmentSize: size }, { source });
  await keeper.check(true);
  return { source, keeper };
}

/**
 * The same, drawn through its buffer, where the rollback guard is: `fetched` lists the ranges the
 * buffer accepted, in order. With the default preload of 1, a range is fetched when the buffer
 * is empty and ids are asked for, or once the held one is used up.
 */
async function guardedSource(stores: FakePartition[], total: number, size: number, preload = 1, shared?: { targets: PartitionTargets; instanceId: string }) {
  const fetched: FetchedRange[] = [];
  const buffer = { preload, waitMs: 1000, onFetched: (range: FetchedRange) => fetched.push(range) };
  const source = new PartitionedSource(stores, total, log, undefined, buffer, shared?.targets, shared?.instanceId);
  await keeperOf(stores, { total, segmentSize: size }, { source }).check(true);
  return { source, buffer: source.buffer, fetched };
}

const settle = () => new Promise((r) => setImmediate(r));

/** id_segment_halt in memory: what each instance published last, per partition */
function memoryTargets(): PartitionTargets {
  const published = new Map<string, { idx: number; above: bigint }[]>();
  return {
    publish: async (instanceId, targets) => void published.set(instanceId, targets),
    required: async (idxs) => {
      const found = new Map<number, bigint>();
      for (const t of [...published.values()].flat()) {
        if (idxs.includes(t.idx) && (found.get(t.idx) ?? -1n) < t.above) found.set(t.idx, t.above);
      }
      return found;
    },
  };
}

/** a layout keeper over fakes with this configuration, on its own source unless one is given */
function keeperOf(stores: FakePartition[], configured: StartLayout, { adopt = false, source = new PartitionedSource(stores, configured.total, log) } = {}) {
  return new PartitionLayoutKeeper(stores, source, configured, adopt, { info: jest.fn(), error: jest.fn() });
}

const log = { error: jest.fn(), warn: jest.fn() };

describe('PartitionedSource', () => {
  it("does go-id-alloc's arithmetic in the application: segment n * P + (p - 1), ids from 1, never 0", async () => {
    const p1 = new FakePartition(1);
    const p2 = new FakePartition(2);
    const { source: one } = await checkedSource([p1], 2, 1000);
    const { source: two } = await checkedSource([p2], 2, 1000);
    expect(await one.fetch()).toEqual({ start: 1n, end: 1001n, lane: '1' }); // segment 0
    expect(await two.fetch()).toEqual({ start: 1001n, end: 2001n, lane: '2' }); // segment 1
    expect(await one.fetch()).toEqual({ start: 2001n, end: 3001n, lane: '1' }); // segment 2
    expect(await two.fetch()).toEqual({ start: 3001n, end: 4001n, lane: '2' }); // segment 3
  });

  it('prefers its own partition and fails over to another when it is down, with no operator step', async () => {
    const own = new FakePartition(1);
    const other = new FakePartition(2);
    const { source } = await checkedSource([own, other], 2, 10);
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
    const { source, buffer, fetched } = await guardedSource([own, other], 2, 10);
    expect(await buffer.take(10)).toHaveLength(10); // own n=0: segment 0; used up, so n=1 (segment 2) is fetched
    await settle();
    own.n = -1n; // restored from a lagging replica
    expect(buffer.take(10)).toHaveLength(10); // segment 2 used up: the next fetch meets the restore
    await settle();
    // own handed out segment 0 again: refused, and the next fetch drew from the other partition
    expect(fetched.map((r) => [r.lane, r.start])).toEqual([['1', 1n], ['1', 21n], ['2', 11n]]);
    expect(log.error).toHaveBeenCalledWith(expect.stringContaining('ROLLBACK on partition 1'));
    expect(source.detail()).toMatchObject({ partitions: { '1': { status: 'down', reason: expect.stringMatching(/rolled back/) }, '2': { status: 'up' } } });
    const skipped = await source.skip(1, 1000n);
    expect(skipped.firstId).toBeGreaterThan(1000n);
    expect(buffer.take(10)).toEqual(Array.from({ length: 10 }, (_, i) => String(11 + i)));
    await settle();
    const after = fetched.at(-1)!;
    expect(after.lane).toBe('1');
    expect(after.start).toBe(skipped.firstId);
    expect(after.start).toBeGreaterThan(1000n);
  });

  it('stays below 2^53: the last range is cut there, the next is ID_SPACE_EXHAUSTED', async () => {
    const p = new FakePartition(1);
    const { source } = await checkedSource([p], 1, 1_000_000);
    p.n = BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000)) - 1n;
    const last = await source.fetch();
    expect(last.end).toBe(BigInt(Number.MAX_SAFE_INTEGER) + 1n);
    await expect(source.fetch()).rejects.toMatchObject({ code: 'ID_SPACE_EXHAUSTED' });
    expect(source.spaceUsed).toBeCloseTo(1, 6);
  });

  it('records the first layout in every partition and refuses another one at start with one line', async () => {
    const p1 = new FakePartition(1);
    const p2 = new FakePartition(2);
    const { source } = await checkedSource([p1, p2], 2, 1000);
    expect(p1.layouts[0]).toMatchObject({ version: 1, total: 2, segmentSize: 1000, base: 1n, first: 0n, idx: 1 });
    expect(p2.layouts[0].layoutId).toBe(p1.layouts[0].layoutId);
    await source.fetch();
    const keeper = (total: number, size: number, stores = [p1, p2]) =>
      keeperOf(stores, { total, segmentSize: size });
    await expect(keeper(2, 500).check(true)).rejects.toThrow(/^partition 1: stored layout total 2, segment size 1000, .*configured: partition 1 of total 2, segment size 500/);
    await expect(keeper(1, 1000, [p1]).check(true)).rejects.toThrow(/^partition 1: stored layout total 2, .*configured: partition 1 of total 1/);
    const fresh = new FakePartition(2);
    await expect(keeper(2, 1000, [p1, fresh]).check(true)).rejects.toThrow(/^partition 2: its database records no layout, while partition 1 carries/);
    const drawn = new FakePartition(1);
    drawn.n = 10n;
    await expect(keeper(1, 1000, [drawn]).check(true)).rejects.toThrow(/^partition 1: its table holds 11 allocation\(s\) but no recorded layout/);
  });

  it('PARTITION_SEGMENT_SIZE unset: a new layout records NEW_LAYOUT_SEGMENT_SIZE, a recorded one keeps its size', async () => {
    const keeper = (stores: FakePartition[], segmentSize: number | undefined, adopt = false) =>
      keeperOf(stores, { total: 1, segmentSize }, { adopt });
    const fresh = new FakePartition(1);
    await keeper([fresh], undefined).check(true);
    expect(fresh.layouts[0]).toMatchObject({ total: 1, segmentSize: NEW_LAYOUT_SEGMENT_SIZE });

    const older = new FakePartition(1);
    await keeper([older], 1000).check(true);
    const source = new PartitionedSource([older], 1, log);
    await keeperOf([older], { total: 1 }, { source }).check(true);
    expect(older.layouts).toHaveLength(1);
    expect(await source.fetch()).toMatchObject({ start: 1n, end: 1001n });
    expect(source.detail()).toMatchObject({ segmentSize: 1000 });

    // a table drawn before layouts were recorded: adopting it needs the size it was drawn under
    const drawn = new FakePartition(1);
    drawn.n = 4n;
    for (const adopt of [false, true]) {
      // with or without PARTITION_ADOPT_LAYOUT, the one line names both settings it needs
      await expect(keeper([drawn], undefined, adopt).check(true)).rejects.toThrow(
        /^partition 1: its table holds 5 allocation\(s\) but no recorded layout .*PARTITION_SEGMENT_SIZE is unset.*PARTITION_ADOPT_LAYOUT=true/,
      );
    }
    expect(drawn.layouts).toHaveLength(0);
    await keeper([drawn], 1000, true).check(true);
    expect(drawn.layouts[0]).toMatchObject({ segmentSize: 1000 });
  });

  it('instances recording the first layout together: the rest follow the winner, and records that disagree are refused', async () => {
    const p1 = new FakePartition(1);
    const p2 = new FakePartition(2);
    // another instance, configured with 1000, recorded partition 1 first
    await p1.insertLayout({ version: 1, layoutId: 'a'.repeat(32), total: 2, segmentSize: 1000, base: 1n, idx: 1, first: 0n, complete: true });
    // p1 has a record and an allocation, p2 none: refused (a swapped database would repeat), not written
    await p1.allocate();
    const source = new PartitionedSource([p1, p2], 2, log);
    await expect(keeperOf([p1, p2], { total: 2 }, { source }).check(true)).rejects.toThrow(
      /^partition 2: its database records no layout/,
    );
    expect(p2.layouts).toHaveLength(0);
    // nothing drawn anywhere: the first write stopped part way, and the check finishes it under p1's record
    const e1 = new FakePartition(1);
    const e2 = new FakePartition(2);
    await e1.insertLayout({ version: 1, layoutId: 'a'.repeat(32), total: 2, segmentSize: 1000, base: 1n, idx: 1, first: 0n, complete: true });
    const finished = new PartitionedSource([e1, e2], 2, log);
    await keeperOf([e1, e2], { total: 2 }, { source: finished }).check(true);
    expect(e2.layouts).toEqual([{ version: 1, layoutId: 'a'.repeat(32), total: 2, segmentSize: 1000, base: 1n, idx: 2, first: 0n, complete: true }]);
    expect(await finished.fetch()).toMatchObject({ start: 1n, end: 1001n });
    // the race itself: this instance (configured 500) loses partition 1 while writing: the rest
    // follow the winner's record, and the configuration that lost is refused
    const q1 = new FakePartition(1);
    const q2 = new FakePartition(2);
    const insert = q1.insertLayout.bind(q1);
    q1.insertLayout = async (l: PartitionLayout) => {
      await insert({ ...l, layoutId: 'b'.repeat(32), segmentSize: 1000 }); // the winner's record lands first
      await insert(l);
    };
    const raced = new PartitionedSource([q1, q2], 2, log);
    await expect(keeperOf([q1, q2], { total: 2, segmentSize: 500 }, { source: raced }).check(true)).rejects.toThrow(
      /^partition 1: stored layout total 2, segment size 1000, .*the configured layout differs/,
    );
    expect(q2.layouts[0]).toMatchObject({ layoutId: 'b'.repeat(32), segmentSize: 1000 });
    // the winner's configuration, or none, draws under the one record
    const after = new PartitionedSource([q1, q2], 2, log);
    await keeperOf([q1, q2], { total: 2 }, { source: after }).check(true);
    expect(await after.fetch()).toMatchObject({ start: 1n, end: 1001n });
    // one layout id, two sizes (written by an older version of this race): refused
    const r1 = new FakePartition(1);
    const r2 = new FakePartition(2);
    await r1.insertLayout({ version: 1, layoutId: 'c'.repeat(32), total: 2, segmentSize: 1000, base: 1n, idx: 1, first: 0n, complete: true });
    await r2.insertLayout({ version: 1, layoutId: 'c'.repeat(32), total: 2, segmentSize: 500, base: 1n, idx: 2, first: 0n, complete: true });
    await expect(
      keeperOf([r1, r2], { total: 2 }).check(true),
    ).rejects.toThrow(/^partition 2: stored layout total 2, segment size 500, .*partition 1 carries another layout/);
  });

  it('PARTITION_SEGMENT_SIZE unset with several partitions: no new layout is recorded; a recorded one is taken, waiting for it while down', async () => {
    const keeper = (stores: FakePartition[], segmentSize?: number) =>
      keeperOf(stores, { total: 2, segmentSize });
    // instances holding other partitions record from their own configuration, so only a named size can agree
    const p1 = new FakePartition(1);
    await expect(keeper([p1]).check(true)).rejects.toThrow(/^partitions 1 of 2: no layout is recorded yet, and PARTITION_SEGMENT_SIZE is unset/);
    const p2 = new FakePartition(2);
    await expect(keeper([p1, p2]).check(true)).rejects.toThrow(/^partitions 1, 2 of 2: no layout is recorded yet/);
    expect([...p1.layouts, ...p2.layouts]).toHaveLength(0);
    await keeper([p1], 1000).check(true);
    expect(p1.layouts[0]).toMatchObject({ total: 2, segmentSize: 1000 });
    // a restart with the size unset while its database is down waits for the record instead of refusing
    p1.down = true;
    const source = new PartitionedSource([p1], 2, log);
    const later = keeperOf([p1], { total: 2 }, { source });
    await later.check(true);
    expect(source.layoutOf(1)).toBeUndefined();
    p1.down = false;
    await later.check(false);
    expect(source.layoutOf(1)).toMatchObject({ segmentSize: 1000 });
  });

  it('a partition that answers only later is held to the layout already drawn under, whoever else is down', async () => {
    const p1 = new FakePartition(1);
    const p2 = new FakePartition(2);
    const layout = { version: 1, layoutId: 'd'.repeat(32), total: 2, base: 1n, first: 0n, complete: true };
    await p1.insertLayout({ ...layout, segmentSize: 1000, idx: 1 });
    await p2.insertLayout({ ...layout, segmentSize: 500, idx: 2 }); // swapped in, or left by an older race
    await p1.allocate(); // drawn under already (with nothing drawn, a partition out of reach holds every one back)
    p2.down = true;
    const source = new PartitionedSource([p1, p2], 2, log);
    const keeper = keeperOf([p1, p2], { total: 2 }, { source });
    await keeper.check(true);
    expect(source.layoutOf(1)).toMatchObject({ segmentSize: 1000 });
    p1.down = true;
    p2.down = false;
    await keeper.check(false);
    expect(source.layoutOf(2)).toBeUndefined();
    expect(JSON.stringify(source.detail())).toMatch(/partition 2: stored layout total 2, segment size 500, .*partition 1 carries another layout/);
    await expect(source.fetch()).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
  });

  it('waits, drawing from none, until every partition answers before recording the first layout', async () => {
    const p1 = new FakePartition(1);
    const p2 = new FakePartition(2);
    p2.down = true;
    const { source, keeper } = await checkedSource([p1, p2], 2, 10);
    expect(p1.layouts).toHaveLength(0);
    await expect(source.fetch()).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE' });
    p2.down = false;
    await keeper.check(false);
    expect((await source.fetch()).lane).toBe('1');
  });

  it('a poll observation counts only against fetches sent after it: a rollback only another instance saw halts the partition', async () => {
    const p1 = new FakePartition(1);
    const { source, buffer, fetched } = await guardedSource([p1], 1, 10);
    expect(await buffer.take(5)).toHaveLength(5); // [1, 11)
    // its own fetch seen by a poll: no halt
    source.observe(1, await p1.poll());
    expect(buffer.take(5)).toHaveLength(5); // used up: the next is fetched
    await settle();
    expect(fetched.map((r) => [r.start, r.end])).toEqual([[1n, 11n], [11n, 21n]]);
    // another instance draws five segments; this one sees them only on its poll
    p1.n += 5n;
    source.observe(1, await p1.poll());
    p1.n = 1n; // the database fails over to a copy from before those draws
    expect(buffer.take(10)).toHaveLength(10); // used up: the next fetch, [21, 31), meets the failover
    await settle();
    expect(fetched).toHaveLength(2);
    await expect(source.fetch()).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE' });
    expect(source.detail()).toMatchObject({ partitions: { '1': { status: 'down', reason: expect.stringMatching(/went back to id 21, below 71/) } } });
  });

  it('a skip made by another instance, observed on the poll, resumes a halted partition; the halt dropped what it held', async () => {
    const p1 = new FakePartition(1);
    const { source, buffer, fetched } = await guardedSource([p1], 1, 10, 0.5);
    expect(await buffer.take(5)).toHaveLength(5); // [1, 11), half used: [11, 21) is fetched
    await settle();
    source.observe(1, await p1.poll());
    p1.n = -1n;
    expect(buffer.take(10)).toHaveLength(10); // [11, 21) half used: the next fetch meets the restore
    await settle();
    expect(fetched).toHaveLength(2);
    expect(buffer.laneHalt('1')).toMatchObject({ watermark: 21n, fetchedStart: 1n });
    expect(buffer.idsLeft).toBe(0); // the rest of [11, 21) went with the halt
    await p1.skipTo(100n); // through another instance
    source.observe(1, await p1.poll());
    await settle();
    expect(fetched.at(-1)).toMatchObject({ start: 1001n });
    expect(buffer.take(1)).toEqual(['1001']);
  });

  it('what others were seen to draw stays in the guard across a skip: a skip below it, made elsewhere, halts this instance rather than repeat', async () => {
    const p1 = new FakePartition(1);
    const { source, buffer, fetched } = await guardedSource([p1], 1, 10);
    expect(await buffer.take(10)).toHaveLength(10); // [1, 11); used up: [11, 21) is fetched
    await settle();
    p1.n += 5n; // others drew up to [61, 71); this instance sees it on its poll
    source.observe(1, await p1.poll());
    p1.n = 1n; // restored from a copy without those draws
    // an operator skips through an instance that saw none of them, to a target below them: the next allocation is [41, 51)
    await p1.skipTo(4n);
    source.observe(1, await p1.poll());
    await settle();
    expect(fetched).toHaveLength(2);
    expect(source.detail()).toMatchObject({
      partitions: { '1': { status: 'down', reason: expect.stringMatching(/went back to id 41, below 71/), smallestSkipTarget: '70' } },
    });
  });

  it('a poll reading a partition below what this instance fetched publishes its target: a skip through an instance that never saw those ids is refused below them', async () => {
    const p1 = new FakePartition(1);
    const targets = memoryTargets();
    const a = await guardedSource([p1], 1, 10, 1, { targets, instanceId: 'a' });
    const b = await guardedSource([p1], 1, 10, 1, { targets, instanceId: 'b' });
    expect(await a.buffer.take(5)).toEqual(['1', '2', '3', '4', '5']); // [1, 11)
    expect(await b.buffer.take(5)).toEqual(['11', '12', '13', '14', '15']); // [11, 21)
    p1.n = 0n; // restored to a copy holding a's allocation only; a polls nothing before the operator's skip
    const sent = b.source.fetchedEnd(1);
    b.source.observe(1, await p1.poll(), sent);
    // not a halt (MAX(id) can lag an allocation already handed out), but b publishes what it issued
    expect(b.source.allDown).toBe(false);
    await b.source.publishTargets(1);
    // a knows only its own ids: {"to": 5} (the next segment [11, 21)) would repeat b's
    await expect(a.source.skip(1, 5n)).rejects.toMatchObject({ code: 'SKIP_BACKWARDS', message: expect.stringContaining('use {"to": 15}') });
    expect(await a.source.skip(1, 15n)).toMatchObject({ firstId: 21n });
    // the skip ends b's reading below: a poll after it publishes nothing
    b.source.observe(1, await p1.poll(), b.source.fetchedEnd(1));
    expect(b.buffer.readBelow('1')).toBe(false);
  });

  it('re-base: the new layout starts above every id of the old; an instance on the old layout stops at its next fetch', async () => {
    const p1 = new FakePartition(1);
    const { source: old } = await checkedSource([p1], 1, 1000);
    const oldIds = [await old.fetch(), await old.fetch()];
    const p2 = new FakePartition(2);
    const { source: admin, keeper } = await checkedSource([p1], 1, 1000);
    const result = await keeper.rebase({ total: 2, segmentSize: 100 }, [p2]);
    expect(result).toMatchObject({ version: 2, total: 2, segmentSize: 100, base: 3001n }); // the fence took allocation 2: [2001, 3001)
    await expect(old.fetch()).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE' });
    expect(old.detail()).toMatchObject({ partitions: { '1': { status: 'down', reason: expect.stringMatching(/layout version 2 is recorded/) } } });
    expect(admin.allDown).toBe(false); // sees it on its next fetch or poll
    admin.observe(1, await p1.poll());
    expect(admin.allDown).toBe(true);
    const { source: fresh } = await checkedSource([p1, p2], 2, 100);
    const next = [await fresh.fetch(), await fresh.fetch()];
    expect(next.map((r) => r.lane)).toEqual(['1', '1']);
    for (const r of next) expect(r.start).toBeGreaterThanOrEqual(oldIds[1].end);
    // allocation 3 (the new layout's first) went to the old instance's refused fetch: a gap, not a repeat
    expect(next[0]).toEqual({ start: 3201n, end: 3301n, lane: '1' });
    expect(next[1]).toEqual({ start: 3401n, end: 3501n, lane: '1' });
  });
});

describe('PartitionedSource guard under a re-based layout', () => {
  it("a database gone back past the re-base's fence (an allocation below the layout's first) halts the partition", async () => {
    const p1 = new FakePartition(1);
    const { source: old } = await checkedSource([p1], 1, 1000);
    await old.fetch();
    const p2 = new FakePartition(2);
    const { keeper } = await checkedSource([p1], 1, 1000);
    await keeper.rebase({ total: 2, segmentSize: 100 }, [p2]);
    const first = p1.layouts.at(-1)!.first;
    p1.n = first - 2n; // the counter lost the fence and more (the layout record kept); this instance starts after it
    const { source, buffer, fetched } = await guardedSource([p1, p2], 2, 100);
    expect(await buffer.take(100)).toHaveLength(100);
    // nothing fetched here yet: the floor is the layout's base, which the check observed
    expect(fetched.map((r) => r.lane)).toEqual(['2']);
    expect(source.detail()).toMatchObject({ partitions: { '1': { status: 'down', reason: expect.stringMatching(/went back to id 2000, below 2001/) }, '2': { status: 'up' } } });
  });
});

describe('PartitionedSource poll', () => {
  it('a poll reading below what was fetched neither halts nor lowers the guard (MAX(id) can lag concurrent REPLACEs)', async () => {
    const p1 = new FakePartition(1);
    const { source, buffer } = await guardedSource([p1], 1, 10);
    expect(await buffer.take(10)).toHaveLength(10); // [1, 11); used up: [11, 21) is fetched
    await settle();
    p1.n += 3n; // others drew [21, 51)
    source.observe(1, await p1.poll());
    source.observe(1, { ...(await p1.poll()), last: 0n }); // a lagging reading
    expect(source.allDown).toBe(false);
    p1.n = 2n; // restored to before the others' draws: the next allocation starts at 31 < 51
    expect(buffer.take(10)).toHaveLength(10);
    await settle();
    await expect(source.fetch()).rejects.toMatchObject({ code: 'SEGMENT_UNAVAILABLE' });
    expect(source.detail()).toMatchObject({ partitions: { '1': { status: 'down', reason: expect.stringMatching(/went back to id 31, below 51/) } } });
  });
});
