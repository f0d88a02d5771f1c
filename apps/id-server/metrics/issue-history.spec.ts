import { FakeClock } from '@app/core';
import { IssueHistory } from './issue-history';

function setup(options = { intervalMs: 5000, samples: 4, maxSeries: 3 }) {
  const clock = new FakeClock();
  const totals = new Map<string, Map<string, number>>();
  const history = new IssueHistory(() => totals, clock, options);
  const issue = (strategy: string, key: string, n: number) => {
    let byKey = totals.get(strategy);
    if (!byKey) totals.set(strategy, (byKey = new Map()));
    byKey.set(key, (byKey.get(key) ?? 0) + n);
  };
  const tick = () => {
    clock.advance(options.intervalMs);
    history.sample();
  };
  return { clock, history, issue, tick };
}

describe('IssueHistory', () => {
  it('turns running totals into ids per second per interval, oldest first', () => {
    const { history, issue, tick } = setup();
    issue('segment', 'orders', 7); // before the first sample: not a rate of any interval
    history.sample();
    issue('segment', 'orders', 50);
    tick();
    issue('segment', 'orders', 100);
    tick();
    expect(history.all()).toEqual([{ strategy: 'segment', key: 'orders', perSecond: [10, 20] }]);
    expect(history.rate('segment', 'orders', 5000)).toBe(20);
    expect(history.rate('segment', 'orders', 60_000)).toBe(15); // the samples it has
    expect(history.rate('segment', 'nope', 60_000)).toBe(0);
  });

  it('keeps at most `samples` per series, and idle intervals count as 0', () => {
    const { history, issue, tick } = setup();
    history.sample();
    for (let i = 1; i <= 6; i++) {
      issue('uuid', '', i * 5);
      tick();
    }
    tick(); // nothing issued
    expect(history.all()[0].perSecond).toEqual([4, 5, 6, 0]);
  });

  it('a key first seen after the first sample counts all its ids in that interval', () => {
    const { history, issue, tick } = setup();
    history.sample();
    issue('segment', 'late', 25);
    tick();
    expect(history.all()[0].perSecond).toEqual([5]);
  });

  it('bounds the series: the one idle longest is dropped', () => {
    const { history, issue, tick } = setup();
    history.sample();
    for (const key of ['a', 'b', 'c']) issue('segment', key, 5);
    tick();
    issue('segment', 'b', 5);
    issue('segment', 'c', 5);
    issue('segment', 'd', 5);
    tick();
    expect(history.all().map((s) => s.key).sort()).toEqual(['b', 'c', 'd']);
    // an evicted key that issues again comes back with its new rate only, not its whole total
    issue('segment', 'a', 10);
    tick();
    expect(history.all().find((s) => s.key === 'a')?.perSecond).toEqual([2]);
  });
});
