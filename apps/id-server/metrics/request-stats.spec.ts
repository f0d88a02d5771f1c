import { LatencyHistory } from './latency-history';
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

describe('LatencyHistory', () => {
  it('gives each interval the percentiles of the requests answered in it alone, null when there were none', () => {
    const stats = new RequestStats();
    const route = stats.route('/ids/:strategy');
    const history = new LatencyHistory(() => stats.buckets(), 2);
    history.sample(); // the baseline
    for (let i = 0; i < 100; i++) route.buckets[0]++; // 100 answers under 0.25 ms
    history.sample();
    route.buckets[LATENCY_BUCKETS_MS.indexOf(1000)] += 100; // the next interval: 100 between 0.5 s and 1 s
    history.sample();
    expect(history.all().p50).toEqual([0.125, 750]);
    history.sample(); // nothing answered; the oldest sample leaves the ring of 2
    expect(history.all()).toEqual({ p50: [750, null], p99: [995, null], p999: [999.5, null] });
  });
});
