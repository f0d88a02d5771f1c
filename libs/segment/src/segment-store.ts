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
  /** bumped by every admin skip; a key halted by the rollback guard resumes when it changes */
  skipSeq: number;
}

/** What the double buffer needs: one atomic fetch. */
export interface SegmentFetcher {
  /**
   * Advances the key's max_id by step in one atomic statement and returns the new max_id; the
   * caller owns [maxId - step, maxId). Throws IdError UNKNOWN_KEY, ID_SPACE_EXHAUSTED or
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
}

export type SkipTarget = { by: bigint } | { to: bigint };

/** Every statement on leaf_alloc, one implementation per dialect. */
export interface SegmentStore extends SegmentFetcher {
  find(key: string): Promise<SegmentKeyRow | null>;
  findMany(keys: string[]): Promise<SegmentKeyRow[]>;
  list(): Promise<SegmentKeyRow[]>;
  /** throws IdError KEY_EXISTS */
  create(row: NewSegmentKey): Promise<SegmentKeyRow>;
  update(key: string, patch: { step?: number; description?: string | null; public?: boolean }): Promise<SegmentKeyRow | null>;
  /**
   * Moves max_id ahead atomically (never back) and bumps skipSeq. Returns null for an unknown key;
   * throws IdError SKIP_BACKWARDS when `to` is not ahead, VALIDATION_FAILED past 2^63-1.
   */
  skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null>;
}
