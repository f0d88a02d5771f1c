import { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { systemClock } from '@app/core';
import { IssueCounter } from './issue-counter';
import { IssueHistory } from './issue-history';

/** the issue rate behind the exhaustion gauge and the dashboard's figures */
export const RATE_WINDOW_MS = 60_000;

/** 10 minutes of history, one sample every 5 s, for at most 500 series. */
export const ISSUE_HISTORY_OPTIONS = { intervalMs: 5000, samples: 120, maxSeries: 500 };

/** IssueHistory sampling IssueCounter on a timer that does not keep the process alive. */
export class IssueHistorySampler extends IssueHistory implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;

  constructor(counter: IssueCounter) {
    super(() => counter.issued, systemClock, ISSUE_HISTORY_OPTIONS);
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

export const ISSUE_HISTORY_PROVIDER = {
  provide: IssueHistory,
  useFactory: (counter: IssueCounter) => new IssueHistorySampler(counter),
  inject: [IssueCounter],
};
