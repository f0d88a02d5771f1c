import { ConfigError, IdError } from '@app/core';

/** A column of the segment table as the database describes it. */
export interface ColumnInfo {
  name: string;
  /** e.g. varchar, bigint, datetime */
  type: string;
  /** characters, for string columns */
  maxLength: number | null;
  nullable: boolean;
  hasDefault: boolean;
}

const STRING_TYPES = /char|text/i;
const REQUIRED = ['biz_tag', 'max_id', 'step', 'update_time'];
const DESCRIPTION_NAMES = ['description', 'desc'];

/** backticks (MySQL, SQLite) or double quotes (PostgreSQL, where backticks are no quotes) */
export type QuoteStyle = 'backtick' | 'double';
const quoteWith = (style: QuoteStyle) => (name: string) => (style === 'double' ? `"${name}"` : `\`${name}\``);

/**
 * The segment table (SEGMENT_TABLE) as found at start: Leaf's leaf_alloc, go-id-alloc's
 * segments, or the one we created. Every statement on it is built from this one value: its name,
 * the description column's name (`description`, or `desc` as go-id-alloc's source calls it), and
 * the limits read from its columns.
 */
export class SegmentTable {
  /** the table name, quoted for SQL */
  readonly sql: string;
  /** the description column, quoted */
  readonly descriptionSql: string;

  private constructor(
    readonly name: string,
    readonly descriptionColumn: string,
    /** the longest key biz_tag holds (go-id-alloc's varchar(32)) */
    readonly keyLength: number,
    private readonly descriptionLength: number | null,
    private readonly descriptionRequired: boolean,
    /** other NOT NULL string columns without a default: written as '' */
    readonly blankColumns: readonly string[],
    /** a column or table name quoted for the dialect */
    readonly quote: (name: string) => string,
  ) {
    this.sql = quote(name);
    this.descriptionSql = quote(descriptionColumn);
  }

  /** the table we create (leaf_alloc's shape) */
  static ours(name = 'leaf_alloc', quotes: QuoteStyle = 'backtick'): SegmentTable {
    return new SegmentTable(name, 'description', 128, 256, false, [], quoteWith(quotes));
  }

  /** from the columns the database reports; a table we cannot use stops the start with one line */
  static fromColumns(name: string, columns: ColumnInfo[], quotes: QuoteStyle = 'backtick'): SegmentTable {
    if (columns.length === 0) {
      throw new ConfigError(`SEGMENT_TABLE: table ${name} not found in the database (point DATABASE_URL at the database that holds it)`);
    }
    const byName = new Map(columns.map((c) => [c.name.toLowerCase(), c]));
    for (const required of REQUIRED) {
      if (!byName.has(required)) {
        throw new ConfigError(`SEGMENT_TABLE: table ${name} has no ${required} column; it needs biz_tag, max_id, step, description (or desc), update_time`);
      }
    }
    const description = DESCRIPTION_NAMES.map((n) => byName.get(n)).find((c) => c !== undefined);
    if (description === undefined) {
      throw new ConfigError(`SEGMENT_TABLE: table ${name} has neither a description nor a desc column; it needs biz_tag, max_id, step, description (or desc), update_time`);
    }
    const key = byName.get('biz_tag')!;
    const used = new Set([...REQUIRED, description.name.toLowerCase()]);
    const blank = columns
      .filter((c) => !used.has(c.name.toLowerCase()) && !c.nullable && !c.hasDefault && STRING_TYPES.test(c.type))
      .map((c) => c.name);
    return new SegmentTable(
      name,
      description.name,
      Math.min(key.maxLength ?? 128, 128),
      description.maxLength,
      !description.nullable,
      blank,
      quoteWith(quotes),
    );
  }

  /** 400 INVALID_KEY for a key longer than biz_tag holds (the generic key rule is checked before) */
  checkKey(key: string): void {
    if (key.length > this.keyLength) {
      throw new IdError(
        'INVALID_KEY',
        `key: at most ${this.keyLength} characters in table ${this.name} (its biz_tag holds ${this.keyLength}); got ${key.length}`,
      );
    }
  }

  /** the value written to the description column: '' where the column is NOT NULL */
  description(value: string | null): string | null {
    if (value !== null && this.descriptionLength !== null && value.length > this.descriptionLength) {
      throw new IdError('VALIDATION_FAILED', `description: at most ${this.descriptionLength} characters in table ${this.name}`, {
        details: [{ field: 'description', problem: `longer than ${this.descriptionLength} characters` }],
      });
    }
    return value === null && this.descriptionRequired ? '' : value;
  }
}
