import { bucketQuantile, LATENCY_BUCKETS_MS, RequestStats } from './request-stats';

describe('RequestStats', () => {
  it('counts answers per route and status, and files each latency under the first bound it does not pass', () => {
    const stats = new RequestStats();
    const ids = stats.route('/ids/:strategy');
    expect(stats.route('/ids/:strategy')).toBe(ids); // one record per route
    const now = performance.now();
    ids.record(200, now); // ~0 ms: first bucket
    ids.record(503, now - 3); // 3 ms: the 5 ms bucket
    ids.record(200, now - 60_000); // past every bound: +Inf
    stats.route('/alloc').record(200, now);
    expect(ids.byStatus[200]).toBe(2);
    expect(ids.byStatus[503]).toBe(1);
    expect(ids.buckets[0]).toBe(1);
    expect(ids.buckets[LATENCY_BUCKETS_MS.indexOf(5)]).toBe(1);
    expect(ids.buckets[LATENCY_BUCKETS_MS.length]).toBe(1);
    expect(ids.sumMs).toBeGreaterThanOrEqual(60_003);
    expect(stats.byStatus()).toEqual(new Map([['200', 3], ['503', 1]]));
    expect([...stats.buckets()].reduce((a, b) => a + b, 0)).toBe(4);
  });

  it('reads percentiles from bucket counts as histogram_quantile does (linear within the bucket)', () => {
    const buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
    expect(bucketQuantile(buckets, 0.5)).toBeNull();
    buckets[0] = 90; // <= 0.25 ms
    buckets[2] = 10; // 0.5..1 ms
    expect(bucketQuantile(buckets, 0.5)).toBeCloseTo(0.25 * (50 / 90));
    expect(bucketQuantile(buckets, 0.95)).toBeCloseTo(0.5 + 0.5 * 0.5);
    buckets[LATENCY_BUCKETS_MS.length] = 1000;
    expect(bucketQuantile(buckets, 0.99)).toBe(5000);
  });
});
