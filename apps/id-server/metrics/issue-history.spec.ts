import { FakeClock } from '@app/core';
import { IssueHistory } from './issue-history';
import { Totals } from './issue-counter';

function setup(options = { intervalMs: 5000, samples: 4, maxSeries: 3 }) {
  const clock = new FakeClock();
  const totals = new Totals();
  const history = new IssueHistory(totals, clock, options);
  const issue = (strategy: string, key: string, n: number) => totals.add(strategy, key, n);
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

  it('a sample visits only the totals changed since the last one', () => {
    const { history, issue, tick } = setup({ intervalMs: 5000, samples: 4, maxSeries: 500 });
    for (let i = 0; i < 100; i++) issue('segment', `k${i}`, 1);
    history.sample();
    tick(); // nothing changed
    const totals = (history as unknown as { totals: Totals }).totals;
    const visited: string[] = [];
    issue('segment', 'k7', 10);
    issue('segment', 'k7', 5);
    totals.takeChanges((_s, key, delta) => visited.push(`${key}:${delta}`));
    expect(visited).toEqual(['k7:15']);
  });

  it('of many keys first used in one interval, only the busiest get a series (never one per key)', () => {
    const { history, issue, tick } = setup({ intervalMs: 5000, samples: 4, maxSeries: 3 });
    history.sample();
    for (let i = 0; i < 1000; i++) issue('segment', `k${i}`, 1);
    issue('segment', 'k500', 99);
    issue('segment', 'k900', 49);
    tick();
    const kept = history.all().map((s) => s.key);
    expect(kept).toHaveLength(3);
    expect(kept).toEqual(expect.arrayContaining(['k500', 'k900']));
    expect(history.rate('segment', 'k500', 5000)).toBe(20);
    expect(history.busiest('segment', 2, 5000)).toEqual(['k500', 'k900']);
  });
});
