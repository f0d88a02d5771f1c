import { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { systemClock } from '@app/core';
import { IssueCounter } from './issue-counter';
import { IssueHistory } from './issue-history';
import { LatencyHistory } from './latency-history';
import { RequestStats } from './request-stats';

/** the issue rate behind the exhaustion gauge and the dashboard's figures */
export const RATE_WINDOW_MS = 60_000;

/** 10 minutes of history, one sample every 5 s, for at most 500 series. */
export const ISSUE_HISTORY_OPTIONS = { intervalMs: 5000, samples: 120, maxSeries: 500 };

/** error answers per second per stable code (IssueHistory's series with strategy "error", key = the code) */
export class ErrorHistory extends IssueHistory {}

/**
 * IssueHistory sampling IssueCounter on a timer that does not keep the process alive; the error
 * and latency histories are sampled on the same tick, so the dashboard's charts line up.
 */
export class IssueHistorySampler extends IssueHistory implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    counter: IssueCounter,
    private readonly others: { sample(): void }[] = [],
  ) {
    super(counter.issued, systemClock, ISSUE_HISTORY_OPTIONS);
  }

  override sample(): void {
    super.sample();
    for (const h of this.others) h.sample();
  }

  onModuleInit(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.options.intervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }
}

export const HISTORY_PROVIDERS = [
  {
    provide: ErrorHistory,
    useFactory: (counter: IssueCounter) => new ErrorHistory(counter.errors, systemClock, ISSUE_HISTORY_OPTIONS),
    inject: [IssueCounter],
  },
  {
    provide: LatencyHistory,
    useFactory: (stats: RequestStats) => new LatencyHistory(() => stats.buckets(), ISSUE_HISTORY_OPTIONS.samples),
    inject: [RequestStats],
  },
  {
    provide: IssueHistory,
    useFactory: (counter: IssueCounter, errors: ErrorHistory, latency: LatencyHistory) => new IssueHistorySampler(counter, [errors, latency]),
    inject: [IssueCounter, ErrorHistory, LatencyHistory],
  },
];
