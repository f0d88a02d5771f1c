import { Injectable } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Observations, GeneratorRegistry } from '@app/core';
import { PartitionGenerator, SegmentGenerator } from '@app/segment';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { IssueCounter } from './issue-counter';
import { IssueHistory } from './issue-history';
import { RATE_WINDOW_MS } from './issue-history.provider';
import { LATENCY_BUCKETS_MS, RequestStats } from './request-stats';

const SPACE_63 = 2 ** 63;
/** at most this many down keys listed by name (idalloc_segment_keys_down counts them all) */
const MAX_DOWN_LISTED = 1000;

/** the segment keys that get per-key series in one scrape, and the totals over every key */
interface Listing {
  keys: Set<string>;
  inUse: number;
  down: { rollback: number; fetch_failing: number };
  idsLeft: number;
}

/**
 * Prometheus metrics: counters kept by IssueCounter, the rest read from the strategies at scrape
 * time. Per-key series only for the listed keys (METRICS_TOP_KEYS busiest by rate, plus every key
 * down or past half its space): a scrape stays the same size at 100,000 keys as at 100; totals
 * cover every key, and per-key detail for all of them is on GET /admin/segments.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private listing: Listing = { keys: new Set(), inUse: 0, down: { rollback: 0, fetch_failing: 0 }, idsLeft: 0 };

  constructor(
    counter: IssueCounter,
    private readonly history: IssueHistory,
    observations: Observations,
    registry: GeneratorRegistry,
    private readonly segment: SegmentGenerator,
    partition: PartitionGenerator,
    requests: RequestStats,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    const register = [this.registry];
    const listed = () => this.listing.keys;
    const self = this;
    collectDefaultMetrics({ register: this.registry, prefix: 'idalloc_' });

    new Counter({
      name: 'idalloc_ids_issued_total',
      help: 'ids issued, per strategy and (segment only) key',
      labelNames: ['strategy', 'key'],
      registers: register,
      collect() {
        this.reset();
        for (const [strategy, totals] of counter.issued.byStrategy) {
          if (strategy !== 'segment') {
            for (const [key, t] of totals.byKey) this.inc({ strategy, key }, t.total); // one key, ''
            continue;
          }
          for (const key of listed()) {
            const n = counter.issued.get(strategy, key);
            if (n > 0) this.inc({ strategy, key }, n);
          }
        }
      },
    });
    new Counter({
      name: 'idalloc_ids_issued_all_total',
      help: 'ids issued, per strategy, every key counted (idalloc_ids_issued_total lists only the busiest segment keys)',
      labelNames: ['strategy'],
      registers: register,
      collect() {
        this.reset();
        for (const [strategy, totals] of counter.issued.byStrategy) this.inc({ strategy }, totals.total);
      },
    });
    new Gauge({
      name: 'idalloc_segment_keys_in_use',
      help: 'segment keys this instance holds a buffer for',
      registers: register,
      collect() {
        this.set(self.listing.inUse);
      },
    });
    new Gauge({
      name: 'idalloc_segment_keys_down',
      help: 'segment keys down, per reason, all of them (idalloc_segment_key_down names at most 1,000)',
      labelNames: ['reason'],
      registers: register,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(self.listing.down)) this.set({ reason }, n);
      },
    });
    new Gauge({
      name: 'idalloc_segment_ids_left_all',
      help: 'ids buffered in this instance over every segment key (public keys counted only behind METRICS_TOKEN)',
      registers: register,
      collect() {
        this.set(self.listing.idsLeft);
      },
    });
    new Counter({
      name: 'idalloc_segment_poll_rows_total',
      help: 'rows the segment poll read: one change row per period while nothing changed, every key in use when it did',
      registers: register,
      collect() {
        this.reset();
        this.inc(segment.pollCost.rowsRead);
      },
    });
    new Counter({
      name: 'idalloc_segment_poll_key_reads_total',
      help: 'polls that read every key in use (the change row had moved by more than our own fetches)',
      registers: register,
      collect() {
        this.reset();
        this.inc(segment.pollCost.keyReads);
      },
    });
    new Counter({
      name: 'idalloc_errors_total',
      help: 'error answers, per code',
      labelNames: ['code'],
      registers: register,
      collect() {
        this.reset();
        for (const [code, t] of counter.errors.byStrategy.get('error')?.byKey ?? []) this.inc({ code }, t.total);
      },
    });
    this.requestMetrics(requests);
    const fetchSeconds = new Histogram({
      name: 'idalloc_segment_fetch_seconds',
      help: 'time of one segment fetch from the database',
      labelNames: ['strategy'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: register,
    });
    observations.onFetch((strategy, _key, ms) => fetchSeconds.observe({ strategy }, ms / 1000));

    new Gauge({
      name: 'idalloc_segment_ids_left',
      help: 'ids buffered in this instance, per key',
      labelNames: ['strategy', 'key'],
      registers: register,
      collect() {
        this.reset();
        for (const key of listed()) {
          const buffer = segment.buffer(key);
          if (buffer) this.set({ strategy: 'segment', key }, buffer.idsLeft);
        }
        this.set({ strategy: 'partition', key: '' }, partition.idsLeft);
      },
    });
    new Gauge({
      name: 'idalloc_segment_seconds_to_exhaustion',
      help: 'ids buffered divided by the issue rate of the last minute, per key (how long this instance lasts without its database)',
      labelNames: ['key'],
      registers: register,
      collect() {
        this.reset();
        for (const key of listed()) {
          const buffer = segment.buffer(key);
          if (buffer === undefined) continue;
          const rate = history.rate('segment', key, RATE_WINDOW_MS);
          this.set({ key }, rate > 0 ? buffer.idsLeft / rate : Infinity);
        }
      },
    });
    new Gauge({
      name: 'idalloc_id_space_used_ratio',
      help: 'share of the id space reached: 2^63 for segment keys, 2^53 for partition (/alloc)',
      labelNames: ['strategy', 'key'],
      registers: register,
      collect() {
        this.reset();
        for (const key of listed()) {
          const buffer = segment.buffer(key);
          if (buffer) this.set({ strategy: 'segment', key }, Number(buffer.highestEnd) / SPACE_63);
        }
        this.set({ strategy: 'partition', key: '' }, partition.spaceUsed);
      },
    });
    new Gauge({
      name: 'idalloc_format_seq_used_ratio',
      help: "formatted keys (business numbers) in use here only: share of the current period's {seq:N} numbers handed out by any instance (as last seen)",
      labelNames: ['key'],
      registers: register,
      collect() {
        this.reset();
        for (const { key, used, capacity } of segment.formatFill()) this.set({ key }, Number(used) / Number(capacity));
      },
    });
    new Gauge({
      name: 'idalloc_segment_step',
      help: 'step in use (dynamic step), per key',
      labelNames: ['key'],
      registers: register,
      collect() {
        this.reset();
        for (const key of listed()) {
          const buffer = segment.buffer(key);
          if (buffer) this.set({ key }, buffer.state().stepInUse);
        }
      },
    });
    new Gauge({
      name: 'idalloc_ready',
      help: '1 when a strategy reports ready on this instance',
      labelNames: ['strategy'],
      registers: register,
      collect() {
        this.reset();
        for (const g of registry.all()) this.set({ strategy: g.strategy }, g.health().ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'idalloc_segment_key_down',
      help: '1 for a key halted by the rollback guard or failing to fetch',
      labelNames: ['key', 'reason'],
      registers: register,
      collect() {
        this.reset();
        for (const key of listed()) {
          const buffer = segment.buffer(key);
          if (buffer === undefined) continue;
          if (buffer.isHalted) this.set({ key, reason: 'rollback' }, 1);
          else if (buffer.failing) this.set({ key, reason: 'fetch_failing' }, 1);
        }
      },
    });
    new Gauge({
      name: 'idalloc_skip_status_unknown',
      help: 'poll not answered within appliedByAllWithinMs: a skip made meanwhile may not be honoured here (segment keys, or a partition)',
      labelNames: ['strategy', 'partition'],
      registers: register,
      collect() {
        this.reset();
        this.set({ strategy: 'segment', partition: '' }, segment.skipStatusUnknown ? 1 : 0);
        for (const idx of partition.skipStatusUnknown()) this.set({ strategy: 'partition', partition: String(idx) }, 1);
      },
    });
    this.snowflakeMetrics(registry);
  }

  /**
   * The id routes' answers per route and status code, and their latency (handler start to the
   * answer handed to Fastify: the wait for a segment fetch included), read from RequestStats'
   * arrays at scrape time. The histogram's get() is replaced rather than fed by observe(): see
   * RouteStats for why nothing of prom-client runs per request.
   */
  private requestMetrics(requests: RequestStats): void {
    new Counter({
      name: 'idalloc_http_requests_total',
      help: 'answers of the id routes, per route and HTTP status code',
      labelNames: ['route', 'code'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const r of requests.all()) {
          for (let code = 100; code < 600; code++) if (r.byStatus[code] > 0) this.inc({ route: r.route, code: String(code) }, r.byStatus[code]);
        }
      },
    });
    const name = 'idalloc_http_request_duration_seconds';
    const help = 'latency of the id routes, per route';
    new (class extends Histogram<'route'> {
      // what prom-client's registry renders (and get() reshapes): the frame it expects, with our values
      async getForPromString() {
        const values: { metricName: string; labels: { route: string; le?: string }; sharedLabels: object; value: number }[] = [];
        for (const r of requests.all()) {
          let cumulative = 0;
          for (let i = 0; i < r.buckets.length; i++) {
            cumulative += r.buckets[i];
            const le = i < LATENCY_BUCKETS_MS.length ? String(LATENCY_BUCKETS_MS[i] / 1000) : '+Inf';
            values.push({ metricName: `${name}_bucket`, labels: { route: r.route, le }, sharedLabels: {}, value: cumulative });
          }
          values.push({ metricName: `${name}_sum`, labels: { route: r.route }, sharedLabels: {}, value: r.sumMs / 1000 });
          values.push({ metricName: `${name}_count`, labels: { route: r.route }, sharedLabels: {}, value: cumulative });
        }
        return { name, help, type: 'histogram', aggregator: 'sum', values };
      }
    })({ name, help, labelNames: ['route'], registers: [this.registry] });
  }

  /** read from the snowflake strategy's readiness detail, when that strategy is present */
  private snowflakeMetrics(registry: GeneratorRegistry): void {
    const detail = () => registry.find('snowflake')?.health().detail as Record<string, any> | undefined;
    const gauge = (name: string, help: string, read: (d: Record<string, any>) => number | undefined) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          const d = detail();
          const v = d === undefined ? undefined : read(d);
          if (typeof v === 'number' && Number.isFinite(v)) this.set(v);
        },
      });
    gauge('idalloc_snowflake_lease_age_seconds', 'time since the worker-id lease was last renewed', (d) =>
      d.lease?.lastRenewMsAgo === undefined ? undefined : d.lease.lastRenewMsAgo / 1000,
    );
    gauge('idalloc_snowflake_reservation_margin_seconds', 'how far the lease reservation reaches beyond now', (d) =>
      d.lease?.reservedUntil ? (Date.parse(d.lease.reservedUntil) - Date.now()) / 1000 : undefined,
    );
    gauge('idalloc_snowflake_worker_id', 'the worker id this instance holds', (d) => d.workerId);
    gauge('idalloc_snowflake_worker_ids_free', 'worker ids free in the pool (last seen)', (d) => d.lease?.poolFree ?? d.poolFree);
    gauge('idalloc_snowflake_clock_offset_ms', "this instance's clock minus the database's (last seen)", (d) => d.lease?.clockOffsetMs ?? d.clockOffsetMs);
    gauge('idalloc_snowflake_clock_behind_ms', 'how far the clock is behind the last issued timestamp', (d) => d.clockBehindMs);
    gauge('idalloc_snowflake_layout_years_left', 'years until the bit layout runs out', (d) => d.yearsLeft);
  }

  /**
   * The Prometheus text. Without `withPublicKeys` (a scrape without METRICS_TOKEN) every per-key
   * series of a public key is left out (issued count, ids left, space used, step, time to
   * exhaustion: each reveals its volume or position); only whether it is down stays.
   */
  async metrics(withPublicKeys: boolean): Promise<string> {
    this.listing = this.list(withPublicKeys);
    const text = await this.registry.metrics();
    if (withPublicKeys) return text;
    const hidden = new Set<string>();
    for (const key of this.listing.keys) if (this.segment.isPublic(key)) hidden.add(key);
    if (hidden.size === 0) return text;
    return text
      .split('\n')
      .filter((line) => {
        if (line.startsWith('#') || line.startsWith('idalloc_segment_key_down{')) return true;
        const key = /[{,]key="((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
        return key === undefined || !hidden.has(key);
      })
      .join('\n');
  }

  /**
   * Which keys get per-key series: the busiest by rate (filled up to the setting with the keys
   * first used), then every key down (up to 1,000) or past half its space (the alerts on
   * rollbacks, failing fetches and space need those whatever their rate). Nothing here walks the
   * keys in use: the rates are IssueHistory's bounded series, the totals and the keys down or past
   * half their space the generator's running ones (keySummary).
   */
  private list(withPublicKeys: boolean): Listing {
    const top = this.config.METRICS_TOP_KEYS;
    const keys = new Set(this.history.busiest('segment', top, RATE_WINDOW_MS));
    // fewer busy keys than the setting: the first keys used fill it (a small service lists every key)
    if (keys.size < top) {
      for (const [key] of this.segment.inUse()) {
        keys.add(key);
        if (keys.size >= top) break;
      }
    }
    const summary = this.segment.keySummary();
    for (const key of [...summary.halted, ...summary.failing].slice(0, MAX_DOWN_LISTED)) keys.add(key);
    for (const key of summary.pastHalfSpace) keys.add(key);
    return {
      keys,
      inUse: summary.inUse,
      down: { rollback: summary.halted.length, fetch_failing: summary.failing.length },
      idsLeft: summary.idsLeft + (withPublicKeys ? summary.publicIdsLeft : 0),
    };
  }
}
