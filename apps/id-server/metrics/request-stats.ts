import { Injectable } from '@nestjs/common';

/** upper bounds of the latency buckets, in ms (the id routes answer in well under 1 ms while buffered) */
export const LATENCY_BUCKETS_MS = [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/**
 * What one id route answered: answers per status code and the latency histogram, as plain typed
 * arrays. Why not prom-client's Counter and Histogram: their inc() and observe() hash the label
 * values into a string key on every call, on the path every id takes; here a request costs two
 * array increments, one addition and a bucket search that usually stops at the first bound.
 * prom-client reads the arrays at scrape time (see MetricsService).
 */
export class RouteStats {
  /** answers per HTTP status (index = status code; Fastify only sends 100..599) */
  readonly byStatus = new Float64Array(600);
  /** answers per latency bucket, not cumulative; the last slot is +Inf */
  readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  sumMs = 0;

  constructor(readonly route: string) {}

  /** one answer sent with `status`, begun at `startMs` (performance.now()) */
  record(status: number, startMs: number): void {
    const ms = performance.now() - startMs;
    this.byStatus[status]++;
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]) i++;
    this.buckets[i]++;
    this.sumMs += ms;
  }
}

/** Latency percentiles of an interval, in ms, read from bucket counts (the bucket's upper bound, as histogram_quantile would interpolate within it). */
export function bucketQuantile(buckets: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < buckets.length; i++) total += buckets[i];
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
    const lower = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1];
    if (seen + buckets[i] >= rank && buckets[i] > 0) {
      // linear within the bucket, as Prometheus' histogram_quantile does
      return lower + (LATENCY_BUCKETS_MS[i] - lower) * ((rank - seen) / buckets[i]);
    }
    seen += buckets[i];
  }
  // in the +Inf bucket: the largest finite bound is all that can be said
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1];
}

/** Per-route answers of the direct (id) routes, kept by DirectRoutes, read by the metrics and the dashboard. */
@Injectable()
export class RequestStats {
  private readonly routes = new Map<string, RouteStats>();

  /** the stats of one route, created once when the route is declared */
  route(url: string): RouteStats {
    let stats = this.routes.get(url);
    if (stats === undefined) this.routes.set(url, (stats = new RouteStats(url)));
    return stats;
  }

  all(): Iterable<RouteStats> {
    return this.routes.values();
  }

  /** answers so far per status code, all routes together (the dashboard's errors/s by status) */
  byStatus(): Map<string, number> {
    const totals = new Map<string, number>();
    for (const r of this.routes.values()) {
      for (let code = 100; code < 600; code++) {
        const n = r.byStatus[code];
        if (n > 0) totals.set(String(code), (totals.get(String(code)) ?? 0) + n);
      }
    }
    return totals;
  }

  /** latency bucket counts so far, all routes together */
  buckets(): Float64Array {
    const sum = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
    for (const r of this.routes.values()) for (let i = 0; i < sum.length; i++) sum[i] += r.buckets[i];
    return sum;
  }
}
