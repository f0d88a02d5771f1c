import { judgeLayouts, PartitionLayout, PartitionObservation } from './partition-layout';

const first = (idx: number, over: Partial<PartitionLayout> = {}): PartitionLayout => ({
  version: 1,
  layoutId: 'a'.repeat(32),
  total: 3,
  segmentSize: 1000,
  base: 1n,
  idx,
  first: 0n,
  complete: true,
  ...over,
});
const seen = (idx: number, layout: PartitionLayout | null, allocations = 0n, reachable = true): PartitionObservation => ({ idx, reachable, layout, allocations });
const configured = { total: 3, segmentSize: 1000 };

describe('judgeLayouts: a first write cut off part way', () => {
  it.each([
    ['recorded in partition 1 only', [seen(1, first(1)), seen(2, null, 0n, false), seen(3, null, 0n, false)], [2, 3]],
    ['recorded everywhere it answers', [seen(1, first(1)), seen(2, first(2)), seen(3, null, 0n, false)], [3]],
    ['one answering unrecorded', [seen(1, first(1)), seen(2, null), seen(3, null, 0n, false)], [3]],
  ])('nothing drawn, a partition out of reach (%s): wait for it, draw from none (seed 5790)', (_what, observed, unreachable) => {
    expect(judgeLayouts(configured, observed, false)).toEqual({ kind: 'wait', unreachable });
  });

  it('a partition out of reach once something is drawn: the others are checked as before', () => {
    const verdict = judgeLayouts(configured, [seen(1, first(1), 3n), seen(2, first(2)), seen(3, null, 0n, false)], false);
    expect(verdict.kind).toBe('ok');
  });

  it('recorded in partition 1 only, nothing drawn anywhere: finish it under the recorded layout', () => {
    const verdict = judgeLayouts(configured, [seen(1, first(1)), seen(2, null), seen(3, null)], false);
    expect(verdict).toEqual({ kind: 'complete', layout: first(1), missing: [2, 3] });
  });

  it('recorded in a later partition only: the same, whichever partition carries it', () => {
    const verdict = judgeLayouts(configured, [seen(1, null), seen(2, first(2)), seen(3, null)], false);
    expect(verdict).toMatchObject({ kind: 'complete', missing: [1, 3] });
  });

  it.each([
    ['an allocation in the recorded partition', [seen(1, first(1), 1n), seen(2, null), seen(3, null)]],
    ['an allocation in an unrecorded partition (a database swapped or emptied)', [seen(1, first(1)), seen(2, null, 4n), seen(3, null)]],
    ['a partition out of reach, one drawn from', [seen(1, first(1), 2n), seen(2, null), seen(3, null, 0n, false)]],
    ['a re-based version', [seen(1, first(1, { version: 2, base: 9001n, first: 3n })), seen(2, null), seen(3, null)]],
    ['two different layout ids recorded', [seen(1, first(1)), seen(2, first(2, { layoutId: 'b'.repeat(32) })), seen(3, null)]],
  ])('%s: refused as before', (_what, observed) => {
    const verdict = judgeLayouts(configured, observed, false);
    expect(verdict.kind).toBe('refuse');
  });
});
