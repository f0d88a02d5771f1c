import { IdError } from '@app/core';
import { MAX_ID, SegmentKeyRow } from './segment-store';

import type { SegmentTable } from './segment-table';

export type Dialect = 'mysql' | 'sqlite' | 'postgres';

/**
 * A key bound for a byte-for-byte comparison, whatever the column's collation: Leaf's and
 * go-id-alloc's DDL compare case-insensitively, and a row `orders` answering for `ORDERS` would
 * put its buffer under another name than the one asked for. MySQL still uses the primary key;
 * PostgreSQL too on our tables, whose keys are COLLATE "C" already.
 */
export function exactKey(dialect: Dialect): string {
  return dialect === 'mysql' ? 'CAST(? AS BINARY)' : dialect === 'postgres' ? 'CAST(? AS varchar) COLLATE "C"' : '? COLLATE BINARY';
}

/** a key column compared and sorted byte for byte (the left side of exactKey) */
export function exactColumn(dialect: Dialect, column: string): string {
  return dialect === 'mysql' ? `CAST(${column} AS BINARY)` : dialect === 'postgres' ? `${column} COLLATE "C"` : column;
}

/** an integer column as exact decimal text (PostgreSQL's CHAR is one character) */
export function asText(dialect: Dialect, expression: string): string {
  return `CAST(${expression} AS ${dialect === 'mysql' ? 'CHAR' : 'TEXT'})`;
}

/** `IN` over n keys, each compared exactly */
export function exactKeys(dialect: Dialect, n: number): string {
  return Array.from({ length: n }, () => exactKey(dialect)).join(', ');
}

/** a LIKE pattern's own characters escaped (MySQL's default escape is the backslash) */
export function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The columns every dialect selects for a key: the segment table joined with our meta table. */
export function selectKey(table: SegmentTable, dialect: Dialect): string {
  return `SELECT a.biz_tag AS biz_tag, ${asText(dialect, 'a.max_id')} AS max_id, a.step AS step,
  a.${table.descriptionSql} AS description, a.update_time AS update_time,
  COALESCE(m.public, 0) AS public, COALESCE(m.skip_seq, 0) AS skip_seq,
  ${asText(dialect, 'COALESCE(m.high_water, 0)')} AS high_water, m.format AS format
  FROM ${table.sql} a LEFT JOIN id_segment_meta m ON m.biz_tag = ${exactColumn(dialect, 'a.biz_tag')}`;
}

/**
 * The segment a fetch returned, [max_id - step, max_id), never below id 1 whatever the table
 * holds (go-id-alloc seeds max_id 0; a hand-edited row may hold less): the part below 1 is skipped,
 * and a range wholly below it is empty.
 */
export function fetchedRange(maxId: bigint, step: number): { start: bigint; end: bigint } {
  const start = maxId - BigInt(step);
  if (start >= 1n) return { start, end: maxId };
  return maxId > 1n ? { start: 1n, end: maxId } : { start: 1n, end: 1n };
}

export interface KeyRecord {
  biz_tag: string;
  max_id: string;
  step: number | string | bigint;
  description: string | null;
  update_time: Date | string;
  public: number | string | bigint;
  skip_seq: number | string | bigint;
  high_water: string | bigint;
  format: string | null;
  /** 1 where the key has an id_segment_meta row (the server stores' reads) */
  meta_row?: number | string | bigint;
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
    format: r.format ?? null,
    ...(r.meta_row === undefined ? {} : { metaRow: Number(r.meta_row) === 1 }),
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

/**
 * `newMaxId` is what the store was asked to set: the admin's `{"to": N}` is max_id N + 1 (every
 * id issued afterwards above N), so the message speaks in the admin's numbers, not the store's.
 */
export function skipBackwards(key: string, maxId: string, newMaxId: bigint): IdError {
  return new IdError(
    'SKIP_BACKWARDS',
    `key "${key}" already issues from ${maxId}; {"to": ${newMaxId - 1n}} would move it back (skips only move ahead): ` +
      `the smallest accepted is {"to": ${maxId}}`,
  );
}

export function keyExists(key: string): IdError {
  return new IdError('KEY_EXISTS', `key "${key}" already exists`);
}

/** INVALID_START below a key's high-water mark; `smallest` for a caller that makes the key itself (a period key) */
export class BelowMark extends IdError {
  constructor(
    key: string,
    readonly smallest: bigint,
  ) {
    super('INVALID_START', `key "${key}" existed before and reached ids near ${smallest}; a key created again must start at ${smallest} or above`);
  }
}

export function belowMark(key: string, smallest: bigint): IdError {
  return new BelowMark(key, smallest);
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
