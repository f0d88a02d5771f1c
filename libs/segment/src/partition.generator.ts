import { GeneratorHealth, IdGenerator, IdRange } from '@app/core';
import { SegmentBuffer } from './segment-buffer';
import { PartitionedSource } from './partitioned-source';
import { ConfiguredLayout } from './partition-layout';
import { RebaseResult } from './partition-layout-keeper';

/** runs a re-base; `extra`: the databases of partitions this instance does not hold */
export type Rebaser = (target: ConfiguredLayout, extra: { idx: number; url: string }[]) => Promise<RebaseResult>;

/** readiness and metrics warn once the sequence has used this share of 2^53 */
export const SPACE_WARNING_SHARE = 0.8;

/**
 * `partition`: go-id-alloc's sequence through the same double buffer as `segment`. One sequence
 * serves every key. Also answers /alloc as a JSON number, hence the 2^53-1 ceiling.
 */
export class PartitionGenerator implements IdGenerator {
  readonly strategy = 'partition';

  constructor(
    private readonly source: PartitionedSource,
    private readonly buffer: SegmentBuffer,
    private readonly rebaser?: Rebaser,
    /** within how long every instance that can read the database observes a skip */
    readonly skipAppliedWithinMs = 0,
  ) {}

  next(_key: string, count: number): string[] | Promise<string[]> {
    return this.buffer.take(count);
  }

  nextRanges(_key: string, count: number): IdRange[] | Promise<IdRange[]> {
    return this.buffer.takeRanges(count);
  }

  /** one id as a number, for /alloc */
  nextNumber(): number | Promise<number> {
    const id = this.buffer.takeNumberSync();
    if (id !== undefined) return id;
    return (this.buffer.take(1) as Promise<string[]>).then((ids) => Number(ids[0]));
  }

  /** recorded in the partition's database; every instance (this one at once) drops what it holds of it */
  skip(idx: number, above: bigint) {
    return this.source.skip(idx, above);
  }

  /** the admin re-base; `extra`: the databases of partitions this instance does not hold */
  rebase(target: ConfiguredLayout, extra: { idx: number; url: string }[]): Promise<RebaseResult> {
    if (this.rebaser === undefined) throw new Error('no re-base wired');
    return this.rebaser(target, extra);
  }

  /** the layout this instance draws under (of its first checked partition) */
  get layout() {
    for (const store of this.source.stores) {
      const layout = this.source.layoutOf(store.idx);
      if (layout !== undefined) return layout;
    }
    return undefined;
  }

  get idsLeft(): number {
    return this.buffer.idsLeft;
  }

  get spaceUsed(): number {
    return this.source.spaceUsed;
  }

  /** partitions whose skip counter this instance has not read within skipAppliedWithinMs */
  skipStatusUnknown(): number[] {
    return this.source.skipStatusUnknown();
  }

  holds(idx: number): boolean {
    return this.source.holds(idx);
  }

  health(): GeneratorHealth {
    const state = this.buffer.state();
    const spaceUsed = this.source.spaceUsed;
    const ready = !(state.idsLeft === 0 && this.source.allDown);
    return {
      ready,
      detail: {
        ...(ready ? {} : { reason: 'no id buffered and no partition reachable' }),
        idsLeft: state.idsLeft,
        spaceUsed: Number(spaceUsed.toFixed(6)),
        ...(spaceUsed >= SPACE_WARNING_SHARE
          ? { warning: `the partitioned sequence has used ${(spaceUsed * 100).toFixed(1)}% of 2^53 (the /alloc ceiling)` }
          : {}),
        ...this.source.detail(),
      },
    };
  }

  close(): void {
    this.buffer.close();
  }
}
