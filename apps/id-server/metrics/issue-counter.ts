import { Injectable } from '@nestjs/common';

/**
 * Counts on the id path without prom-client's per-call label hashing: nested maps, no string
 * building, read at scrape time. Only `segment` keys are labels (they are rows of leaf_alloc);
 * other strategies echo any key, which would make the label set unbounded.
 */
@Injectable()
export class IssueCounter {
  readonly issued = new Map<string, Map<string, number>>();
  readonly errors = new Map<string, number>();

  add(strategy: string, key: string, count: number): void {
    let byKey = this.issued.get(strategy);
    if (byKey === undefined) this.issued.set(strategy, (byKey = new Map()));
    const label = strategy === 'segment' ? key : '';
    byKey.set(label, (byKey.get(label) ?? 0) + count);
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}
