import type { Clock } from '@app/core';

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
}

/**
 * Ids issued per second over the last minutes, per strategy and key: sampled from the running
 * totals (IssueCounter's maps) every interval, so what the dashboard and the exhaustion gauge
 * read does not depend on how often anyone looks. Bounded in samples and in series.
 */
export class IssueHistory {
  private readonly series = new Map<string, Series>();
  /** the running total last seen per series: as many entries as the totals have */
  private readonly lastTotals = new Map<string, number>();
  private lastSampleAt: number | undefined;

  constructor(
    private readonly totals: () => Iterable<[strategy: string, byKey: Iterable<[key: string, total: number]>]>,
    private readonly clock: Clock,
    readonly options: IssueHistoryOptions,
  ) {}

  /** take one sample: each series gets the rate since the previous sample */
  sample(): void {
    const now = this.clock.now();
    const elapsed = this.lastSampleAt === undefined ? 0 : (now - this.lastSampleAt) / 1000;
    const first = this.lastSampleAt === undefined;
    this.lastSampleAt = now;
    const pushed = new Set<Series>();
    for (const [strategy, byKey] of this.totals()) {
      for (const [key, total] of byKey) {
        const id = `${strategy}\u0000${key}`;
        const previous = this.lastTotals.get(id);
        this.lastTotals.set(id, total);
        // ids of a key first seen after the first sample were all issued in this interval
        const delta = previous === undefined ? (first ? 0 : total) : total - previous;
        if (elapsed <= 0) continue;
        let s = this.series.get(id);
        if (s === undefined) {
          if (delta <= 0) continue; // a ring only for series with something to show
          s = { strategy, key, rates: new Float64Array(this.options.samples), head: 0, filled: 0, lastActiveAt: now };
          this.series.set(id, s);
        }
        this.push(s, Math.max(0, delta) / elapsed);
        if (delta > 0) s.lastActiveAt = now;
        pushed.add(s);
      }
    }
    if (elapsed > 0) for (const s of this.series.values()) if (!pushed.has(s)) this.push(s, 0);
    this.evict();
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

  private evict(): void {
    if (this.series.size <= this.options.maxSeries) return;
    const byIdle = [...this.series.entries()].sort((a, b) => a[1].lastActiveAt - b[1].lastActiveAt);
    for (const [id] of byIdle.slice(0, this.series.size - this.options.maxSeries)) this.series.delete(id);
  }
}
