import { IdError } from '@app/core';
import { MAX_ID, SegmentKeyRow } from './segment-store';

/** Columns every dialect selects for a key: leaf_alloc joined with our meta table. */
export const KEY_COLUMNS = `a.biz_tag AS biz_tag, CAST(a.max_id AS CHAR) AS max_id, a.step AS step,
  a.description AS description, a.update_time AS update_time,
  COALESCE(m.public, 0) AS public, COALESCE(m.skip_seq, 0) AS skip_seq,
  CAST(COALESCE(m.high_water, 0) AS CHAR) AS high_water`;
export const KEY_FROM = 'leaf_alloc a LEFT JOIN id_segment_meta m ON m.biz_tag = a.biz_tag';

export interface KeyRecord {
  biz_tag: string;
  max_id: string;
  step: number | string | bigint;
  description: string | null;
  update_time: Date | string;
  public: number | string | bigint;
  skip_seq: number | string | bigint;
  high_water: string | bigint;
}

export function toKeyRow(r: KeyRecord): SegmentKeyRow {
  const t = r.update_time;
  const updatedAt =
    t instanceof Date ? t.toISOString() : /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(t) ? `${t.replace(' ', 'T')}.000Z` : String(t);
  return {
    key: r.biz_tag,
    maxId: String(r.max_id),
    step: Number(r.step),
    description: r.description,
    updatedAt,
    public: Number(r.public) === 1,
    skipSeq: Number(r.skip_seq),
    highWater: String(r.high_water),
  };
}

export function exhausted(key: string, step: number): IdError {
  return new IdError(
    'ID_SPACE_EXHAUSTED',
    `key "${key}" cannot take ${step} more ids without passing ${MAX_ID} (2^63-1)`,
  );
}

export function unknownKey(key: string): IdError {
  return new IdError('UNKNOWN_KEY', `unknown key "${key}"; create it with POST /admin/segments`);
}

export function skipBackwards(key: string, maxId: string, to: bigint): IdError {
  return new IdError(
    'SKIP_BACKWARDS',
    `key "${key}" already issues from ${maxId}; a skip to ${to} would move it back (skips only move ahead)`,
  );
}

export function keyExists(key: string): IdError {
  return new IdError('KEY_EXISTS', `key "${key}" already exists`);
}

export function belowMark(key: string, smallest: bigint): IdError {
  return new IdError(
    'INVALID_START',
    `key "${key}" existed before and reached ids near ${smallest}; a key created again must start at ${smallest} or above`,
  );
}

/** the smallest start a re-created key may take: high-water mark + margin (0 when never seen) */
export function smallestStart(highWater: bigint, margin: bigint): bigint {
  return highWater === 0n ? 1n : highWater + margin;
}

/** how long a published skip target counts: three poll periods */
export const TARGET_FRESH_POLLS = 3;

export function skipPastMax(key: string): IdError {
  return new IdError('VALIDATION_FAILED', `a skip of key "${key}" that far would pass ${MAX_ID} (2^63-1)`, {
    details: [{ field: 'by', problem: 'too large' }],
  });
}
