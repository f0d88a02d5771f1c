import type { IdError } from '@app/core';
import type { SegmentTable } from './segment-table';

/** The largest id any key may reach: 2^63 - 1 (a signed BIGINT). */
export const MAX_ID = 9223372036854775807n;

/** A business key as the tables hold it (leaf_alloc and our meta table beside it). */
export interface SegmentKeyRow {
  key: string;
  /** the next segment starts here; exact decimal */
  maxId: string;
  /** the stored (minimum) step */
  step: number;
  description: string | null;
  updatedAt: string;
  public: boolean;
  /** bumped by every admin skip; every instance drops what it holds of the key when it changes */
  skipSeq: number;
  /**
   * the high-water mark: at least the highest max_id the key reached, never lowered (exact
   * decimal). Raised by every fetch of a key with a meta row (in the fetch's statement or
   * transaction; MySQL's single fetch may leave it one step above max_id), by skips, and by the
   * poll for keys without one. 0: never marked.
   */
  highWater: string;
  /** the business-number format as stored (JSON text of a FormatSpec); null or absent for plain ids */
  format?: string | null;
  /** whether the key has an id_segment_meta row (MySQL and PostgreSQL say; a first fetch's compare-and-set pins it) */
  metaRow?: boolean;
}

/** What the double buffer needs: one atomic fetch. */
export interface SegmentFetcher {
  /**
   * Advances the key's max_id by step in one atomic statement and returns the new max_id; the
   * caller owns [maxId - step, maxId). The same statement (or transaction) raises the key's
   * high-water mark to at least the new max_id when the key has a meta row. Throws IdError UNKNOWN_KEY, ID_SPACE_EXHAUSTED or
   * DATABASE_UNAVAILABLE, never a wrapped or rounded value.
   */
  fetch(key: string, step: number): Promise<bigint>;
}

export interface NewSegmentKey {
  key: string;
  /** the first id issued (stored as max_id) */
  startId: bigint;
  step: number;
  description: string | null;
  public: boolean;
  /** a key created again must start at or above its high-water mark plus this (SEGMENT_STEP_MAX) */
  markMargin: bigint;
  /** JSON text of the key's FormatSpec, or null */
  format?: string | null;
}

/** One instance's smallest acceptable skip target for a key it holds halted. */
export interface PublishedTarget {
  key: string;
  target: bigint;
}

export interface SegmentKeyPatch {
  step?: number;
  description?: string | null;
  public?: boolean;
  /** JSON text of a FormatSpec; null removes the format */
  format?: string | null;
}

export type SkipTarget = { by: bigint } | { to: bigint };

/**
 * The change row (id_segment_change): seq counts the writes the poll must see, token is the XOR
 * of a random value per write. Cumulative counts of this process's own fetches use the same shape.
 */
export interface ChangeMark {
  seq: bigint;
  token: bigint;
}

/** one key's share of a batched fetch */
export interface FetchRequest {
  key: string;
  step: number;
  /**
   * The key's row as the caller read it just before (its first lookup). A store may take the
   * range by compare-and-set against it, in one statement; a key that moved since (another
   * instance's fetch, a skip, a mark written) costs the batch a locked fetch, never a wrong range.
   */
  seen?: { maxId: string; metaRow: boolean };
}

/**
 * What a batched fetch answers per key, in the order asked: the new max_id (the caller owns
 * [maxId - step, maxId)), or the key's own refusal (IdError UNKNOWN_KEY or ID_SPACE_EXHAUSTED).
 */
export type FetchOutcome = bigint | IdError;

/** Every statement on the segment table, one implementation per dialect. */
export interface SegmentStore extends SegmentFetcher {
  /** the table every statement names, with the limits read from its columns */
  readonly table: SegmentTable;
  find(key: string): Promise<SegmentKeyRow | null>;
  /** one statement: the poll reads every key it serves this way (in chunks) */
  findMany(keys: string[]): Promise<SegmentKeyRow[]>;
  /**
   * The first fetch of many keys at once (first use of many keys): one atomic write for all of
   * them (one statement, or one transaction) that bumps the change row once and raises each
   * key's mark as `fetch` does, every key's range
   * exact and held by its caller alone, as `fetch` would give it. A key's own refusal (unknown,
   * exhausted) answers that key only; anything else (the database away, an answer lost after
   * commit) throws for the whole batch, DATABASE_UNAVAILABLE: every key fetches again, a gap at
   * worst, never a repeat. Keys are distinct. Absent: first fetches go one by one.
   */
  fetchMany?(requests: FetchRequest[]): Promise<FetchOutcome[]>;
  /** keys a caller names (period keys left out) */
  list(): Promise<SegmentKeyRow[]>;
  /** period keys left out; up to `limit` keys after `after` (exclusive) in key order, those starting with `prefix` only; one statement */
  listPage(after: string | null, limit: number, prefix: string | null): Promise<SegmentKeyRow[]>;
  /** the change row: one small read, what an idle poll costs */
  readChanges(): Promise<ChangeMark>;
  /**
   * This process's fetches whose answers arrived, since it started: how many, and the XOR of the
   * tokens they brought to the change row. A poll whose read moved by exactly these saw no one
   * else's write and no loss.
   */
  ownFetches(): ChangeMark;
  /**
   * Every write below but raiseMarks and the halt targets (which the poll of keys does not read)
   * bumps the change row in the same statement or transaction, fetch included.
   *
   * One transaction: the row and its meta (public flag) together. Throws IdError KEY_EXISTS, or
   * INVALID_START below the key's high-water mark + markMargin.
   */
  create(row: NewSegmentKey): Promise<SegmentKeyRow>;
  /** raises high-water marks (never lowers them) */
  raiseMarks(marks: { key: string; highWater: bigint }[]): Promise<void>;
  /** this instance's smallest acceptable skip targets for its halted keys, stamped with the database clock */
  publishTargets(instanceId: string, targets: PublishedTarget[]): Promise<void>;
  /** the largest target per key published within the last withinMs (database clock) */
  requiredTargets(keys: string[], withinMs: number): Promise<Map<string, bigint>>;
  /**
   * the period keys (`base~YYYYMMDD`) with a target published within the last withinMs: halted on
   * some instance. Listings leave period keys out, but not these: the runbook must see them.
   */
  haltedPeriodKeys(withinMs: number): Promise<string[]>;
  update(key: string, patch: SegmentKeyPatch): Promise<SegmentKeyRow | null>;
  /**
   * Moves max_id ahead and bumps skipSeq in one transaction (never back; exact). Returns null for an unknown key;
   * throws IdError SKIP_BACKWARDS when `to` is not ahead, VALIDATION_FAILED past 2^63-1.
   */
  skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null>;
  /**
   * the greatest period key of a formatted key (`base~YYYYMMDD`, see business-numbers.ts) in the
   * table, or null; absent in a store that cannot say (period keys made elsewhere are then not adopted)
   */
  newestPeriodKey?(base: string): Promise<string | null>;
}
