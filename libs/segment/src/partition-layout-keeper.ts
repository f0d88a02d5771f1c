import { IdError } from '@app/core';
import { randomUUID } from 'node:crypto';
import { PartitionStore } from './partition-store';
import { ConfiguredLayout, describeLayout, judgeLayouts, NEW_LAYOUT_SEGMENT_SIZE, PartitionLayout, PartitionObservation, rangeOf, rebaseBase, StartLayout } from './partition-layout';
import { PartitionedSource } from './partitioned-source';

export interface LayoutKeeperLog {
  info(message: string): void;
  error(message: string): void;
}

/** A start-up refusal (the caller turns it into the one-line exit). */
export class LayoutRefused extends Error {}

export interface RebaseResult {
  version: number;
  layoutId: string;
  total: number;
  segmentSize: number;
  base: bigint;
  partitions: { idx: number; firstAllocation: bigint; firstId: bigint | null }[];
}

/**
 * Checks the layout every partition database records against the configuration before the
 * source draws from it, writes the first layout, and runs the admin re-base. Storage is the
 * stores'; the rules are partition-layout.ts's.
 */
export class PartitionLayoutKeeper {
  private checking?: Promise<void>;
  /** the last refusal logged by a later check (the poll retries every period: log it once) */
  private lastRefusal?: string;

  constructor(
    private readonly stores: PartitionStore[],
    private readonly source: PartitionedSource,
    private readonly configured: StartLayout,
    private readonly adoptUnrecorded: boolean,
    private readonly log: LayoutKeeperLog,
  ) {}

  /** every held partition's record checked (or refused) */
  get complete(): boolean {
    return this.stores.every((s) => this.source.layoutOf(s.idx) !== undefined);
  }

  /**
   * Reads every held partition and acts on the verdict. At start a refusal throws
   * LayoutRefused; later (a partition that answers only now) it keeps that partition out.
   */
  check(atStart: boolean): Promise<void> {
    this.checking ??= this.runCheck(atStart).finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async observeAll(): Promise<PartitionObservation[]> {
    return Promise.all(
      this.stores.map(async (store): Promise<PartitionObservation> => {
        try {
          // every reading of the counter counts, even when another statement of the check fails
          const seen = (last: bigint) => this.source.allocationSeen(store.idx, last);
          const [layout, last, polled] = await Promise.all([
            store.readLayout(),
            store.current().then((last) => (seen(last), last)),
            store.poll().then((answer) => (seen(answer.last), answer)),
          ]);
          // the skip counter under the recorded layout: a skip made before this instance's first
          // poll must count as one, not as the baseline
          const skips = layout !== null && polled.version === layout.version ? polled.skips : undefined;
          return { idx: store.idx, reachable: true, layout, allocations: last + 1n, skips };
        } catch (e) {
          this.source.layoutUnchecked(store.idx, `layout not checked yet: ${(e as Error).message ?? e}`);
          return { idx: store.idx, reachable: false, layout: null, allocations: 0n };
        }
      }),
    );
  }

  private async runCheck(atStart: boolean): Promise<void> {
    // a partition answering only now is held to the layout already drawn under, not only to the
    // configuration (which may leave the size to the record)
    const checked = this.stores.map((s) => this.source.layoutOf(s.idx)).find((l) => l !== undefined);
    let seen = await this.observeAll();
    let verdict = judgeLayouts(this.configured, seen, this.adoptUnrecorded, checked);
    if (verdict.kind === 'write' || verdict.kind === 'complete') {
      if (verdict.kind === 'write') await this.writeFirst();
      else await this.completeFirst(verdict.layout, verdict.missing);
      seen = await this.observeAll();
      verdict = judgeLayouts(this.configured, seen, this.adoptUnrecorded, checked);
    }
    switch (verdict.kind) {
      case 'ok':
        for (const [idx, layout] of verdict.layouts) {
          const read = seen.find((s) => s.idx === idx);
          if (this.source.layoutOf(idx) === undefined) this.source.layoutChecked(idx, layout, read?.skips);
        }
        return;
      case 'wait':
        for (const idx of verdict.unreachable) {
          this.source.layoutUnchecked(idx, 'layout not recorded yet: every partition must be reachable to record the first layout');
        }
        return;
      case 'write':
      case 'complete':
        throw new Error('unreachable: written layouts read back as absent');
      case 'refuse':
        if (atStart) throw new LayoutRefused(verdict.message);
        if (verdict.message !== this.lastRefusal) this.log.error(verdict.message);
        this.lastRefusal = verdict.message;
        for (const s of seen) if (s.reachable) this.source.layoutUnchecked(s.idx, verdict.message);
    }
  }

  /** the first layout, in idx order: whoever records partition 1 first decides the layout id */
  private async writeFirst(): Promise<void> {
    let layoutId = randomUUID().replace(/-/g, '');
    let layout = { total: this.configured.total, segmentSize: this.configured.segmentSize ?? NEW_LAYOUT_SEGMENT_SIZE };
    const ordered = [...this.stores].sort((a, b) => a.idx - b.idx);
    for (const [i, store] of ordered.entries()) {
      await store.insertLayout({
        version: 1,
        layoutId,
        ...layout,
        base: 1n,
        idx: store.idx,
        first: 0n,
        complete: true,
      });
      const stored = await store.readLayout();
      // another instance won the race: the rest under its layout id and sizes (the check then
      // judges them against this instance's configuration)
      if (i === 0 && stored !== null) {
        layoutId = stored.layoutId;
        layout = { total: stored.total, segmentSize: stored.segmentSize };
      }
    }
    this.log.info(`recorded the partition layout (${describeLayout({ ...layout, base: 1n, version: 1, layoutId })}) in partitions ${ordered.map((s) => s.idx).join(', ')}`);
  }

  /** the rest of an interrupted first write, under the layout id already recorded */
  private async completeFirst(layout: PartitionLayout, missing: number[]): Promise<void> {
    for (const store of this.stores.filter((s) => missing.includes(s.idx))) {
      await store.insertLayout({ ...layout, idx: store.idx, first: 0n, complete: true });
    }
    this.log.info(`finished recording the partition layout (${describeLayout({ ...layout, idx: undefined })}) in partitions ${missing.join(', ')}: its first write had stopped part way, before any allocation`);
  }

  /**
   * The admin re-base: a new layout version above every id allocated under the old one, written
   * into every partition database of the old and the new layout (held here or passed in `extra`).
   * Instances on the old layout see the new version on their next fetch or poll and stop drawing.
   */
  async rebase(target: ConfiguredLayout, extra: PartitionStore[]): Promise<RebaseResult> {
    const all = new Map<number, PartitionStore>();
    for (const s of this.stores) all.set(s.idx, s);
    for (const s of extra) {
      if (all.has(s.idx)) throw invalid('partitions', `partition ${s.idx} is held by this instance: do not pass it`);
      all.set(s.idx, s);
    }
    // which partitions are needed: from what this instance checked, else from its partitions' records
    const checked = this.stores.map((s) => this.source.layoutOf(s.idx)).find((l) => l !== undefined) ?? (await this.recordedLayout());
    const needed = Math.max(checked.total, target.total);
    const missing: number[] = [];
    for (let idx = 1; idx <= needed; idx++) if (!all.has(idx)) missing.push(idx);
    if (missing.length > 0) {
      throw invalid('partitions', `partition(s) ${missing.join(', ')} of the old or new layout are not held here: pass their databases in "partitions"`);
    }
    const stores = [...all.values()].sort((a, b) => a.idx - b.idx);
    // every partition reachable, and its record read, before anything is written
    const records = await Promise.all(
      stores.map(async (store) => {
        try {
          return { store, layout: await store.readLayout(), last: await store.current() };
        } catch (e) {
          throw unreachable(store, e);
        }
      }),
    );
    // the layout in force as every partition records it, not as this instance checked it: a
    // re-base cut off part way leaves partitions on different versions, and an instance that
    // started meanwhile checked only some of them (simulation seeds 36, 697)
    const current = await this.layoutInForce(records);
    if (current.total > needed) throw invalid('partitions', `the recorded layout has ${current.total} partitions: pass the databases of those not held here in "partitions"`);
    const interrupted = this.interruptedRebase(records, current, target);
    for (const r of records) {
      if (r.layout === null && r.last >= 0n) {
        throw invalid('partitions', `partition ${r.store.idx} holds allocations but no recorded layout: what it issued is unknown, so no re-base can be above it`);
      }
      const ours = r.layout === null || r.layout.layoutId === current.layoutId || r.layout.layoutId === interrupted?.layoutId;
      if (!ours && r.layout!.version >= current.version) {
        throw invalid('partitions', `partition ${r.store.idx} carries another layout (${describeLayout(r.layout!)}) than this instance's (${describeLayout(current)})`);
      }
    }
    const version = interrupted?.version ?? Math.max(...records.map((r) => r.layout?.version ?? 0)) + 1;
    const layoutId = interrupted?.layoutId ?? randomUUID().replace(/-/g, '');
    const fence = { version, layoutId, total: target.total, segmentSize: target.segmentSize };
    const fenced: { store: PartitionStore; last: bigint; old: PartitionLayout | null; done: PartitionLayout | null }[] = [];
    for (const r of records) {
      if (r.layout !== null && r.layout.layoutId === interrupted?.layoutId) {
        // fenced by the run that was cut off: its last old allocation is the one before the new first
        fenced.push({ store: r.store, last: r.layout.first - 1n, old: await this.lastComplete(r.store, r.layout), done: r.layout.complete ? r.layout : null });
        continue;
      }
      // the old layout's ids: the last complete version's (an unfinished re-base's fence issued none)
      const old = r.layout === null ? null : r.layout.complete ? r.layout : await this.lastComplete(r.store, r.layout);
      const last = await r.store.fence(fence, r.layout?.version ?? 0);
      fenced.push({ store: r.store, last, old, done: null });
    }
    const base = rebaseBase(fenced.filter((f) => f.old !== null).map((f) => ({ layout: f.old!, last: f.last })));
    // every fence was in place before the first completion, so a completed one carries this base
    const differs = fenced.find((f) => f.done !== null && f.done.base !== base);
    if (differs !== undefined) {
      throw invalid('partitions', `partition ${differs.store.idx} completed version ${version} with base ${differs.done!.base}, not ${base}: the partition records disagree; nothing was changed`);
    }
    for (const f of fenced) await f.store.completeLayout(version, base);
    const result: RebaseResult = {
      version,
      layoutId,
      total: target.total,
      segmentSize: target.segmentSize,
      base,
      partitions: fenced.map((f) => {
        const layout: PartitionLayout = { ...fence, base, idx: f.store.idx, first: f.last + 1n, complete: true };
        return { idx: f.store.idx, firstAllocation: layout.first, firstId: f.store.idx <= target.total ? rangeOf(layout, layout.first)!.start : null };
      }),
    };
    this.log.info(
      `re-based the partitions from ${describeLayout(current)} to ${describeLayout({ ...fence, base })}; ` +
        `partitions ${fenced.map((f) => `${f.store.idx} (last old allocation ${f.last})`).join(', ')} (cannot be undone)`,
    );
    return result;
  }

  /**
   * The layout in force as the held partitions record it, for an instance that checked none:
   * after a re-base cut off part way, every start refuses the unfinished version, so no live
   * instance may have checked one (simulation, re-base worlds: seed 248, the one instance that
   * had crashed between the fences and the completion).
   */
  private async recordedLayout(): Promise<PartitionLayout> {
    const latest: { store: PartitionStore; layout: PartitionLayout | null }[] = [];
    for (const store of this.stores) {
      try {
        latest.push({ store, layout: await store.readLayout() });
      } catch (e) {
        throw unreachable(store, e);
      }
    }
    return this.layoutInForce(latest);
  }

  /**
   * From each partition's latest record: their common version when every partition completed it;
   * else a re-base to the highest was cut off part way, and the layout in force is the complete
   * one below it (one partition's completion is not the new layout's).
   */
  private async layoutInForce(latest: { store: PartitionStore; layout: PartitionLayout | null }[]): Promise<PartitionLayout> {
    const recorded = latest.filter((x): x is { store: PartitionStore; layout: PartitionLayout } => x.layout !== null);
    if (recorded.length === 0) throw new IdError('DATABASE_UNAVAILABLE', 'no partition layout recorded yet');
    const top = Math.max(...recorded.map((x) => x.layout.version));
    if (recorded.every((x) => x.layout.version === top && x.layout.complete)) return recorded[0].layout;
    for (const { store } of recorded) {
      const below = await store.readLayout(top);
      if (below !== null) return below;
    }
    throw new IdError('DATABASE_UNAVAILABLE', `no complete partition layout recorded below version ${top}`);
  }

  /**
   * A re-base cut off part way (some partitions fenced, perhaps some completed; or all done with
   * the answer lost) left version current + 1 under one layout id: run again with the same
   * target, it is finished under that id rather than refused for carrying another layout
   * (simulation, re-base worlds: 21 of seeds 1..200 stayed refused for good before this). A
   * different target is refused, naming the recorded one.
   */
  private interruptedRebase(records: { store: PartitionStore; layout: PartitionLayout | null }[], current: PartitionLayout, target: ConfiguredLayout): PartitionLayout | undefined {
    const newer = records.flatMap((r) => (r.layout !== null && r.layout.version > current.version ? [r.layout] : []));
    if (newer.length === 0) return undefined;
    const first = newer[0];
    if (newer.some((l) => l.layoutId !== first.layoutId || l.version !== current.version + 1)) return undefined; // refused below, as another layout
    if (first.total !== target.total || first.segmentSize !== target.segmentSize) {
      throw invalid(
        'segmentSize',
        `a re-base to total ${first.total}, segment size ${first.segmentSize} (version ${first.version}) was cut off part way: run it again with those to finish it`,
      );
    }
    return first;
  }

  /**
   * An unfinished re-base left an incomplete version; the ids under it were never used. The
   * complete layout before it, as the partition records it: not this instance's memory, which may
   * be of an older version after an earlier re-base whose answer was lost and was run again
   * (simulation seed 606: the old layout taken as version 1 under version 4 gave another base).
   */
  private async lastComplete(store: PartitionStore, incomplete: PartitionLayout): Promise<PartitionLayout | null> {
    const recorded = await store.readLayout(incomplete.version);
    if (recorded !== null) return recorded;
    // a partition that had no layout and no allocation when it was fenced (the fence took allocation 0)
    if (incomplete.first <= 1n) return null;
    throw invalid('partitions', `partition ${incomplete.idx}: an unfinished re-base left version ${incomplete.version} above allocations no recorded layout covers`);
  }
}

/** a re-base needs every partition of the old and the new layout */
function unreachable(store: PartitionStore, e: unknown): IdError {
  return new IdError('DATABASE_UNAVAILABLE', `re-base refused: partition ${store.idx} is unreachable (${(e as Error).message ?? e}); every partition must be`, { cause: e });
}

function invalid(field: string, problem: string): IdError {
  return new IdError('VALIDATION_FAILED', `re-base refused: ${problem}`, { details: [{ field, problem }] });
}
