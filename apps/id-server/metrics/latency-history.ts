import { bucketQuantile } from './request-stats';

export interface LatencySeries {
  /** per interval, oldest first, in ms; null for an interval without requests */
  p50: (number | null)[];
  p99: (number | null)[];
  p999: (number | null)[];
}

const QUANTILES = [0.5, 0.99, 0.999] as const;

/**
 * The id routes' latency percentiles per sampling interval, for the dashboard: each sample takes
 * the histogram's bucket counts since the previous one (RequestStats' running totals), so a
 * percentile describes that interval alone, as Prometheus' rate() over it would. Bounded: one
 * ring of `samples` per percentile.
 */
export class LatencyHistory {
  private last: Float64Array | undefined;
  private readonly rings = QUANTILES.map(() => [] as (number | null)[]);

  constructor(
    private readonly totals: () => Float64Array,
    private readonly samples: number,
  ) {}

  sample(): void {
    const now = this.totals();
    const previous = this.last;
    this.last = now;
    if (previous === undefined) return;
    const delta = now.map((n, i) => n - previous[i]);
    QUANTILES.forEach((q, i) => {
      const v = bucketQuantile(delta, q);
      const ring = this.rings[i];
      ring.push(v === null ? null : Math.round(v * 1000) / 1000);
      if (ring.length > this.samples) ring.shift();
    });
  }

  all(): LatencySeries {
    const [p50, p99, p999] = this.rings.map((r) => [...r]);
    return { p50, p99, p999 };
  }
}
