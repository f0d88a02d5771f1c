import { PartitionStore } from './partition-store';
import { PartitionedSource } from './partitioned-source';
import { PartitionLayoutKeeper } from './partition-layout-keeper';

/**
 * The periodic poll of the partitions (SEGMENT_POLL_MS): one statement per partition per period
 * reading its counter, skip counter and layout version, fed to the source, which turns them into
 * its rollback guard, skips every instance honours, and the end of drawing under a replaced
 * layout. Partitions whose layout is not checked yet (unreachable at start) are checked again.
 */
export class PartitionWatch {
  private timer?: NodeJS.Timeout;
  private readonly polling = new Set<number>();

  constructor(
    private readonly stores: readonly PartitionStore[],
    private readonly source: PartitionedSource,
    private readonly keeper: PartitionLayoutKeeper,
    private readonly periodMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  tick(): void {
    if (!this.keeper.complete) void this.keeper.check(false).catch(() => undefined);
    // halted partitions tell every instance's skip route what they require
    void this.source.publishTargets().catch(() => undefined);
    for (const store of this.stores) {
      if (this.source.layoutOf(store.idx) === undefined || this.polling.has(store.idx)) continue;
      this.polling.add(store.idx);
      const sentAt = this.source.now();
      const fetchedAtSend = this.source.fetchedEnd(store.idx);
      store
        .poll()
        .then(
          (answer) => {
            this.source.observe(store.idx, answer, fetchedAtSend);
            this.source.pollAnswered(store.idx, sentAt);
            // a partition halted, or read below what was fetched here, publishes its target at once
            void this.source.publishTargets(store.idx).catch(() => undefined);
          },
          // a partition whose database is away shows in the source's fetch errors, and past
          // skipAppliedWithinMs as "skip status unknown"
          () => undefined,
        )
        .finally(() => this.polling.delete(store.idx));
    }
  }
}
