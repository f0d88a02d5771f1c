/**
 * The partition layout: the arithmetic that turns partition p's n-th allocation into ids, and
 * the record of it that every partition database keeps. Plain TypeScript: no Nest, no SQL.
 *
 * Under a layout (total P, segment size S, base B, first allocation number F of partition p),
 * allocation n >= F of partition p is global segment s = (n - F) * P + (p - 1), ids
 * [B + s * S, B + (s + 1) * S). The first layout has B = 1 and F = 0 (go-id-alloc's arithmetic,
 * id 0 never issued); a re-base writes a new version whose base lies above every id the old
 * one allocated, with F = the partition's next allocation number.
 */
export interface PartitionLayout {
  /** 1 for the first layout; each re-base adds one */
  version: number;
  /** random, the same in every partition database of one layout version */
  layoutId: string;
  total: number;
  segmentSize: number;
  base: bigint;
  /** the partition this record describes (its database's partition) */
  idx: number;
  /** the first allocation number this layout uses in partition idx */
  first: bigint;
  /** false while a re-base has fenced the partition but not yet written the new base */
  complete: boolean;
}

/** A layout to create or check: a re-base's target, or what an instance is configured with. */
export interface ConfiguredLayout {
  total: number;
  segmentSize: number;
}

/**
 * The segment size a new layout of one partition records when PARTITION_SEGMENT_SIZE is unset
 * (with more, it must be set: see judgeLayouts). Each segment costs
 * one durable commit, on the path of /alloc: at 1,000 that was ~5% of a core at 80k req/s; at
 * 100,000 a segment lasts 12 s at 8,000 req/s, so two held segments ride out a database restart.
 * The cost: an instance that stops skips what it held, up to two segments (of 2^53).
 */
export const NEW_LAYOUT_SEGMENT_SIZE = 100_000;

/** What an instance is configured with; no segment size: the one the databases record. */
export interface StartLayout {
  total: number;
  segmentSize?: number;
}

/** One partition database as read at start (or when it first answers). */
export interface PartitionObservation {
  idx: number;
  reachable: boolean;
  layout: PartitionLayout | null;
  /** allocations the table holds (the last allocation number + 1) */
  allocations: bigint;
  /** the skip counter of the recorded layout, when read */
  skips?: bigint;
}

export function describeLayout(l: Pick<PartitionLayout, 'total'> & Partial<PartitionLayout>): string {
  const parts = [`total ${l.total}`, `segment size ${l.segmentSize ?? 'as recorded'}`];
  if (l.base !== undefined) parts.push(`base ${l.base}`);
  if (l.version !== undefined) parts.push(`version ${l.version}`);
  if (l.layoutId !== undefined) parts.push(`layout id ${l.layoutId}`);
  if (l.idx !== undefined) parts.push(`recorded for partition ${l.idx}`);
  return parts.join(', ');
}

/** [start, end) of allocation n of the layout's partition; undefined below its first allocation */
export function rangeOf(layout: PartitionLayout, n: bigint): { start: bigint; end: bigint } | undefined {
  if (n < layout.first) return undefined;
  const size = BigInt(layout.segmentSize);
  const segment = (n - layout.first) * BigInt(layout.total) + BigInt(layout.idx - 1);
  const start = layout.base + segment * size;
  return { start, end: start + size };
}

/** the smallest allocation number of the layout's partition whose segment starts above id `above` */
export function allocationAbove(layout: PartitionLayout, above: bigint): bigint {
  const size = BigInt(layout.segmentSize);
  const p = BigInt(layout.total);
  const minSegment = above < layout.base ? 0n : (above - layout.base) / size + 1n;
  const offset = BigInt(layout.idx - 1);
  const k = minSegment <= offset ? 0n : (minSegment - offset + p - 1n) / p;
  return layout.first + k;
}

export type LayoutVerdict =
  /** every held partition carries a layout that matches the configuration */
  | { kind: 'ok'; layouts: Map<number, PartitionLayout> }
  /** no partition has a layout or an allocation, and all are reachable: write this one */
  | { kind: 'write' }
  /** the first layout's write was cut off before these partitions; nothing drawn anywhere: finish it */
  | { kind: 'complete'; layout: PartitionLayout; missing: number[] }
  /** cannot decide until these partitions answer (nothing recorded among those that did) */
  | { kind: 'wait'; unreachable: number[] }
  /** a start-up refusal: one line naming the partition, what is stored and what is configured */
  | { kind: 'refuse'; message: string };

/**
 * The start-up rule. Partitions not yet reachable are checked when they answer; a partition is
 * never drawn from before its record has been checked. `checked`: a record this instance has
 * already checked and draws under; a partition that answers later must carry the same layout.
 */
export function judgeLayouts(configured: StartLayout, seen: PartitionObservation[], adoptUnrecorded: boolean, checked?: PartitionLayout): LayoutVerdict {
  const reachable = seen.filter((s) => s.reachable);
  const recorded = reachable.filter((s) => s.layout !== null);
  const configuredText = describeLayout(configured);
  const reference = checked ?? (recorded.length > 0 ? recorded[0].layout! : undefined);
  if (reference === undefined) {
    const drawn = reachable.find((s) => s.allocations > 0n);
    const unrecorded = drawn && `partition ${drawn.idx}: its table holds ${drawn.allocations} allocation(s) but no recorded layout (drawn before layouts were recorded, or by go-id-alloc v1)`;
    if (unrecorded && configured.segmentSize === undefined) {
      return {
        kind: 'refuse',
        message:
          `${unrecorded}, and PARTITION_SEGMENT_SIZE is unset: recording a layout for them needs the segment size they were drawn ` +
          "under (go-id-alloc's SegmentSize; 1000 if they were drawn on this service's old default). " +
          'If you know it, set it and start once with PARTITION_ADOPT_LAYOUT=true to record it.',
      };
    }
    if (unrecorded && !adoptUnrecorded) {
      return {
        kind: 'refuse',
        message:
          `${unrecorded}, so the layout they were drawn under is unknown; configured: ${configuredText}. ` +
          'If that is the layout they were drawn under, start once with PARTITION_ADOPT_LAYOUT=true to record it.',
      };
    }
    const unreachable = seen.filter((s) => !s.reachable).map((s) => s.idx);
    if (unreachable.length > 0) return { kind: 'wait', unreachable };
    // With several partitions, instances that hold different ones each record from their own
    // configuration, and a record half-written by a race outlives the race: only a size that
    // every instance names can agree. The size defaults only where there is one partition.
    if (configured.segmentSize === undefined && configured.total > 1) {
      return {
        kind: 'refuse',
        message:
          `partitions ${seen.map((s) => s.idx).join(', ')} of ${configured.total}: no layout is recorded yet, and PARTITION_SEGMENT_SIZE ` +
          'is unset: with more than one partition a new layout needs it, set alike on every instance (unset takes a recorded size).',
      };
    }
    return { kind: 'write' };
  }
  const referenceIdx = reference.idx;
  const missing = reachable.filter((s) => s.layout === null).map((s) => s.idx);
  if (missing.length > 0 && interruptedFirstWrite(reference, seen)) return { kind: 'complete', layout: reference, missing };
  // Nothing drawn yet under the first layout, and a partition out of reach: its record may be
  // missing, a first write cut off part way, which only the completion above can finish, and
  // only while nothing is drawn anywhere. Drawing from the others now would leave it refused for
  // good (simulation seed 5790: a first write recorded partition 1 only, 2 and 3 did not answer,
  // partition 1 was drawn from, and 2 and 3 were refused ever after). So wait for every partition,
  // unless this instance checked the layout before (then it was whole, or drawn under).
  const unreachable = seen.filter((s) => !s.reachable).map((s) => s.idx);
  if (checked === undefined && unreachable.length > 0 && isFirstLayout(reference) && reachable.every((s) => s.allocations === 0n)) {
    return { kind: 'wait', unreachable };
  }
  const layouts = new Map<number, PartitionLayout>();
  for (const s of reachable) {
    const l = s.layout;
    const configuredHere = `configured: partition ${s.idx} of ${configuredText}`;
    if (l === null) {
      return {
        kind: 'refuse',
        message:
          `partition ${s.idx}: its database records no layout, while partition ${referenceIdx} carries ${describeLayout(reference)}; ` +
          `${configuredHere}. A database swapped or emptied would repeat ids: restore it, or re-base (POST /admin/partitions/rebase).`,
      };
    }
    const problem =
      l.idx !== s.idx
        ? 'it is the database of another partition'
        : l.idx > l.total
          ? `a re-base retired partition ${l.idx} (the layout has ${l.total})`
          : l.total !== configured.total || (configured.segmentSize !== undefined && l.segmentSize !== configured.segmentSize)
          ? 'the configured layout differs'
          : l.layoutId !== reference.layoutId || l.version !== reference.version || l.total !== reference.total || l.segmentSize !== reference.segmentSize
            ? `partition ${referenceIdx} carries another layout (${describeLayout(reference)})`
            : !l.complete
              ? 'a re-base to it is unfinished (run POST /admin/partitions/rebase again)'
              : null;
    if (problem !== null) {
      return {
        kind: 'refuse',
        message:
          `partition ${s.idx}: stored layout ${describeLayout(l)}; ${configuredHere}: ${problem}. ` +
          'Changing the layout would repeat ids: start with the stored layout, or change it with POST /admin/partitions/rebase.',
      };
    }
    layouts.set(s.idx, l);
  }
  return { kind: 'ok', layouts };
}

/**
 * The first layout recorded in some partitions and not in others, with every partition reachable
 * and no allocation in any: an instance stopped (or a database failed) part way through
 * writeFirst. Finishing the write is what that instance would have done, and with nothing drawn
 * anywhere nothing can be repeated: the same condition under which the first layout is written
 * at all. Any allocation, a re-based version or a partition out of reach keeps the refusal (a
 * database swapped or emptied after ids were drawn looks the same, and would repeat them).
 */
function interruptedFirstWrite(reference: PartitionLayout, seen: PartitionObservation[]): boolean {
  if (!isFirstLayout(reference)) return false;
  return seen.every(
    (s) =>
      s.reachable &&
      s.allocations === 0n &&
      s.idx <= reference.total &&
      (s.layout === null || (s.layout.layoutId === reference.layoutId && s.layout.version === 1 && s.layout.idx === s.idx)),
  );
}

/** the layout writeFirst records: version 1 from id 1, never re-based */
function isFirstLayout(layout: PartitionLayout): boolean {
  return layout.version === 1 && layout.complete && layout.base === 1n && layout.first === 0n;
}

/**
 * A re-base's new base: above every id allocated under the old layouts, given each partition's
 * last allocation number as fenced (the fence's own allocation included, so nothing the old
 * layout could still hand out lies at or above it).
 */
export function rebaseBase(old: { layout: PartitionLayout; last: bigint }[]): bigint {
  let base = 1n;
  for (const { layout, last } of old) {
    const range = rangeOf(layout, last);
    if (range !== undefined && range.end > base) base = range.end;
    // a layout's own base bounds it from below even when it never allocated
    if (layout.base > base) base = layout.base;
  }
  return base;
}
