import { Injectable } from '@nestjs/common';

/** one running total, and what the last sample took of it */
class Tally {
  total = 0;
  sampled = 0;
  /** in the list of tallies changed since the last sample */
  queued = false;

  constructor(
    readonly strategy: string,
    readonly key: string,
  ) {}
}

/** the running totals of one strategy: per key, and over every key */
export class StrategyTotals {
  total = 0;
  readonly byKey = new Map<string, Tally>();
}

/** what IssueHistory samples: the totals changed since it last asked, each once, with how much */
export interface ChangedTotals {
  takeChanges(visit: (strategy: string, key: string, delta: number) => void): void;
}

/**
 * Running totals per strategy and key, with the list of those changed since the last sample: the
 * sampler and a scrape touch what changed and the keys they name, never every key (100,000 keys
 * in use cost nothing while idle). Adding costs two map reads and a few field writes.
 */
export class Totals implements ChangedTotals {
  readonly byStrategy = new Map<string, StrategyTotals>();
  private changed: Tally[] = [];

  add(strategy: string, key: string, n: number): void {
    let s = this.byStrategy.get(strategy);
    if (s === undefined) this.byStrategy.set(strategy, (s = new StrategyTotals()));
    s.total += n;
    let t = s.byKey.get(key);
    if (t === undefined) s.byKey.set(key, (t = new Tally(strategy, key)));
    t.total += n;
    if (!t.queued) {
      t.queued = true;
      this.changed.push(t);
    }
  }

  /** a key's running total (0 when none) */
  get(strategy: string, key: string): number {
    return this.byStrategy.get(strategy)?.byKey.get(key)?.total ?? 0;
  }

  takeChanges(visit: (strategy: string, key: string, delta: number) => void): void {
    const changed = this.changed;
    this.changed = [];
    for (const t of changed) {
      t.queued = false;
      const delta = t.total - t.sampled;
      t.sampled = t.total;
      visit(t.strategy, t.key, delta);
    }
  }
}

/**
 * Counts on the id path without prom-client's per-call label hashing, read at scrape time. Only
 * `segment` keys are labels (they are rows of leaf_alloc); other strategies echo any key, which
 * would make the label set unbounded. Error answers are counted under the strategy "error", the
 * code as key.
 */
@Injectable()
export class IssueCounter {
  readonly issued = new Totals();
  readonly errors = new Totals();

  add(strategy: string, key: string, count: number): void {
    this.issued.add(strategy, strategy === 'segment' ? key : '', count);
  }

  error(code: string): void {
    this.errors.add('error', code, 1);
  }
}
