import type { Clock } from '@app/core';
import type { ChangedTotals } from './issue-counter';

export interface IssueHistoryOptions {
  /** ms between samples */
  intervalMs: number;
  /** samples kept per series (the window is intervalMs * samples) */
  samples: number;
  /** series kept at most; the one idle longest goes first */
  maxSeries: number;
}

export interface RateSeries {
  strategy: string;
  key: string;
  /** ids per second in each interval, oldest first; at most `samples` long */
  perSecond: number[];
}

interface Series {
  strategy: string;
  key: string;
  /** ring of rates, `filled` of them valid, next write at `head` */
  rates: Float64Array;
  head: number;
  filled: number;
  lastActiveAt: number;
  /** the sample that last gave it a rate */
  sampled: number;
}

/**
 * Ids issued per second over the last minutes, per strategy and key: sampled from the running
 * totals (IssueCounter's) every interval, so what the dashboard and the exhaustion gauge read does
 * not depend on how often anyone looks. Bounded in samples and in series. A sample touches the
 * totals changed since the last one and the series kept, never every key: an idle instance with
 * 100,000 keys samples as fast as one with 10.
 */
export class IssueHistory {
  private readonly series = new Map<string, Series>();
  private lastSampleAt: number | undefined;
  /** counts samples: a series not given a rate by the current one gets 0 */
  private sampleSeq = 0;

  constructor(
    private readonly totals: ChangedTotals,
    private readonly clock: Clock,
    readonly options: IssueHistoryOptions,
  ) {}

  /** take one sample: each series gets the rate since the previous sample */
  sample(): void {
    const now = this.clock.now();
    const elapsed = this.lastSampleAt === undefined ? 0 : (now - this.lastSampleAt) / 1000;
    this.lastSampleAt = now;
    const seq = ++this.sampleSeq;
    // keys with no series yet: they get one only if there is room, the busiest first
    const fresh: { strategy: string; key: string; delta: number }[] = [];
    // before the first sample, what was issued is not a rate of any interval
    this.totals.takeChanges((strategy, key, delta) => {
      if (elapsed <= 0) return;
      const s = this.series.get(`${strategy}\u0000${key}`);
      if (s === undefined) {
        if (delta > 0) fresh.push({ strategy, key, delta }); // a ring only for series with something to show
        return;
      }
      this.push(s, Math.max(0, delta) / elapsed);
      if (delta > 0) s.lastActiveAt = now;
      s.sampled = seq;
    });
    if (elapsed <= 0) return;
    for (const s of this.series.values()) if (s.sampled !== seq) this.push(s, 0);
    this.admit(fresh, now, elapsed);
  }

  /**
   * New series, at most maxSeries in all: the ones idle longest make room (not those active in
   * this sample), and of the new ones the busiest get it. Never a ring per key first used (the
   * first use of 100,000 keys in one interval would make 100,000 rings of 1 KB).
   */
  private admit(fresh: { strategy: string; key: string; delta: number }[], now: number, elapsed: number): void {
    if (fresh.length === 0) return;
    const { samples, maxSeries } = this.options;
    let room = maxSeries - this.series.size;
    if (room < fresh.length) {
      const idle = [...this.series.entries()].filter(([, s]) => s.lastActiveAt < now).sort((a, b) => a[1].lastActiveAt - b[1].lastActiveAt);
      for (const [id] of idle.slice(0, fresh.length - room)) this.series.delete(id);
      room = maxSeries - this.series.size;
      fresh.sort((a, b) => b.delta - a.delta);
    }
    for (const { strategy, key, delta } of fresh.slice(0, Math.max(0, room))) {
      const s: Series = { strategy, key, rates: new Float64Array(samples), head: 0, filled: 0, lastActiveAt: now, sampled: this.sampleSeq };
      this.series.set(`${strategy}\u0000${key}`, s);
      this.push(s, delta / elapsed);
    }
  }

  /** mean ids/s over the last `windowMs` (the samples it covers; at least one), 0 when unknown */
  rate(strategy: string, key: string, windowMs: number): number {
    const s = this.series.get(`${strategy}\u0000${key}`);
    if (s === undefined || s.filled === 0) return 0;
    const n = Math.min(s.filled, Math.max(1, Math.round(windowMs / this.options.intervalMs)));
    let sum = 0;
    for (let i = 1; i <= n; i++) sum += s.rates[(s.head - i + this.options.samples) % this.options.samples];
    return sum / n;
  }

  /** the n keys of a strategy with the highest mean rate over windowMs (only series with a ring: bounded) */
  busiest(strategy: string, n: number, windowMs: number): string[] {
    if (n <= 0) return [];
    const rated: [string, number][] = [];
    for (const s of this.series.values()) {
      if (s.strategy !== strategy) continue;
      const r = this.rate(strategy, s.key, windowMs);
      if (r > 0) rated.push([s.key, r]);
    }
    rated.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return rated.slice(0, n).map(([key]) => key);
  }

  all(): RateSeries[] {
    return [...this.series.values()].map((s) => {
      const perSecond: number[] = [];
      const start = (s.head - s.filled + this.options.samples) % this.options.samples;
      for (let i = 0; i < s.filled; i++) perSecond.push(Math.round(s.rates[(start + i) % this.options.samples] * 100) / 100);
      return { strategy: s.strategy, key: s.key, perSecond };
    });
  }

  private push(s: Series, rate: number): void {
    s.rates[s.head] = rate;
    s.head = (s.head + 1) % this.options.samples;
    if (s.filled < this.options.samples) s.filled++;
  }
}
