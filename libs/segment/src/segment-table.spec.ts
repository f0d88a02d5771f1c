import { ConfigError } from '@app/core';
import { fetchedRange, selectKey } from './segment-sql';
import { ColumnInfo, SegmentTable } from './segment-table';

const col = (name: string, type: string, maxLength: number | null, nullable: boolean, hasDefault = false): ColumnInfo => ({
  name,
  type,
  maxLength,
  nullable,
  hasDefault,
});
/** go-id-alloc's current segments table */
const goIdAlloc = (desc = 'description') => [
  col('biz_tag', 'varchar', 32, false),
  col('max_id', 'bigint', null, false),
  col('step', 'bigint', null, false),
  col(desc, 'varchar', 1024, false, true),
  col('update_time', 'datetime', null, false),
];

describe('SegmentTable', () => {
  it('reads the limits of a table we did not create', () => {
    const t = SegmentTable.fromColumns('segments', goIdAlloc());
    expect(t.keyLength).toBe(32);
    expect(() => t.checkKey('k'.repeat(32))).not.toThrow();
    expect(() => t.checkKey('k'.repeat(33))).toThrow(/^key: at most 32 characters in table segments/);
    // NOT NULL: '' instead of null
    expect(t.description(null)).toBe('');
    expect(t.description('x')).toBe('x');
    expect(() => t.description('d'.repeat(1025))).toThrow(/at most 1024/);
    expect(SegmentTable.ours().description(null)).toBeNull();
  });

  it('accepts desc for the description column, and every statement names it', () => {
    const t = SegmentTable.fromColumns('segments', goIdAlloc('desc'));
    expect(t.descriptionColumn).toBe('desc');
    const sql = selectKey(t, 'mysql');
    expect(sql).toContain('a.`desc` AS description');
    expect(sql).toContain('FROM `segments` a');
  });

  it('writes blank strings into other NOT NULL string columns without a default', () => {
    const t = SegmentTable.fromColumns('segments', [...goIdAlloc(), col('owner', 'varchar', 64, false), col('note', 'varchar', 64, true)]);
    expect(t.blankColumns).toEqual(['owner']);
  });

  it.each([
    [[], /^SEGMENT_TABLE: table segments not found/],
    [goIdAlloc().filter((c) => c.name !== 'step'), /^SEGMENT_TABLE: table segments has no step column/],
    [goIdAlloc().filter((c) => c.name !== 'description'), /^SEGMENT_TABLE: table segments has neither a description nor a desc column/],
  ])('refuses a table it cannot use in one line (%#)', (columns, pattern) => {
    let error: unknown;
    try {
      SegmentTable.fromColumns('segments', columns);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('fetchedRange: never an id below 1, whatever the table holds', () => {
  it.each([
    [1100n, 100, 1000n, 1100n],
    [101n, 100, 1n, 101n],
    [100n, 100, 1n, 100n], // go-id-alloc's max_id 0 seed: [0, 100) -> [1, 100)
    [1n, 100, 1n, 1n],
    [-500n, 100, 1n, 1n],
    [50n, 100, 1n, 50n],
  ])('max_id %s, step %i: [%s, %s)', (maxId, step, start, end) => {
    expect(fetchedRange(maxId, step)).toEqual({ start, end });
  });
});
