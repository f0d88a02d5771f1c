import { Dialect, likeEscape } from './segment-sql';
import type { SegmentTable } from './segment-table';

/**
 * The one statement that sets a key's business-number format (id_segment_meta.format, JSON text
 * or NULL), inside the caller's transaction with the change-row bump so every poll sees it.
 * One branch per dialect.
 */
export function setFormatSql(dialect: Dialect): string {
  switch (dialect) {
    case 'mysql':
      return 'INSERT INTO id_segment_meta (biz_tag, format) VALUES (?, ?) ON DUPLICATE KEY UPDATE format = VALUES(format)';
    case 'sqlite':
    case 'postgres':
      return 'INSERT INTO id_segment_meta (biz_tag, format) VALUES (?, ?) ON CONFLICT (biz_tag) DO UPDATE SET format = excluded.format';
  }
}

/**
 * Keys a caller never names: a period's own key (`invoices~20261207`, see business-format.ts) is
 * listed under its base key, not beside it. `~` is no LIKE wildcard in any dialect.
 */
export const NOT_PERIOD_KEY = "a.biz_tag NOT LIKE '%~%'";

/**
 * The greatest period key of a base key: `SELECT MAX(biz_tag)` over `base~*`, with one
 * parameter, `periodKeyPattern(dialect, base)`. Period digits are fixed-width, so the greatest
 * key is the newest period.
 */
export function newestPeriodKeySql(table: SegmentTable, dialect: Dialect): string {
  switch (dialect) {
    case 'mysql':
      return `SELECT MAX(CAST(biz_tag AS BINARY)) AS k FROM ${table.sql} WHERE CAST(biz_tag AS BINARY) LIKE CAST(? AS BINARY)`;
    case 'sqlite':
      // GLOB is case-sensitive; keys hold none of its wildcards (KEY_PATTERN)
      return `SELECT MAX(biz_tag) AS k FROM ${table.sql} WHERE biz_tag GLOB ?`;
    case 'postgres':
      return `SELECT MAX(biz_tag COLLATE "C") AS k FROM ${table.sql} WHERE biz_tag COLLATE "C" LIKE CAST(? AS varchar) COLLATE "C"`;
  }
}

export function periodKeyPattern(dialect: Dialect, base: string): string {
  switch (dialect) {
    case 'mysql':
    case 'postgres':
      return `${likeEscape(base)}~%`;
    case 'sqlite':
      return `${base}~*`;
  }
}
