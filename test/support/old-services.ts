import type { Connection } from 'mysql2/promise';

/*
 * The services we replace, replayed: their DDL, their SQL and their arithmetic, so tests can
 * leave each table exactly as the old service would (neither runs on these machines).
 */

/** Meituan Leaf's leaf_alloc as its README creates it (the server's default, case-insensitive collation) */
export const LEAF_DDL = `CREATE TABLE leaf_alloc (
  biz_tag varchar(128) NOT NULL DEFAULT '',
  max_id bigint(20) NOT NULL DEFAULT '1',
  step int(11) NOT NULL,
  description varchar(256) DEFAULT NULL,
  update_time timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (biz_tag)
) ENGINE=InnoDB`;

/** go-id-alloc's current segments table; `descColumn` as its source comment names it */
export function goIdAllocDdl(table = 'segments', descColumn: 'description' | 'desc' = 'description'): string {
  return `CREATE TABLE ${table} (
  biz_tag varchar(32) NOT NULL,
  max_id bigint NOT NULL,
  step bigint NOT NULL,
  \`${descColumn}\` varchar(1024) NOT NULL DEFAULT '',
  update_time datetime NOT NULL,
  PRIMARY KEY (biz_tag)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`;
}

/** go-id-alloc v1's partition table */
export const goIdAllocV1Ddl = (idx: number) => `CREATE TABLE partition_${idx} (
  id bigint(20) NOT NULL AUTO_INCREMENT,
  meanless tinyint(4) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY meanless (meanless)
) ENGINE=InnoDB`;

/**
 * Leaf's segment service or go-id-alloc's current one for one key: each fetch is its own
 * transaction, `UPDATE t SET max_id = max_id + step WHERE biz_tag = ?` then the row read back; the
 * segment is [max_id - step, max_id). go-id-alloc never hands out id 0 (its README seeds max_id 0);
 * Leaf's dynamic step passes its own step (`max_id = max_id + ?`). Every id of every segment it
 * fetched counts as issued: what it still held when stopped is gone with its memory.
 */
export class ReplayedSegmentService {
  readonly ids: string[] = [];
  fetches = 0;

  constructor(
    private readonly conn: Connection,
    private readonly table: string,
    private readonly key: string,
    private readonly skipZero: boolean,
  ) {}

  async fetch(customStep?: number): Promise<void> {
    await this.conn.beginTransaction();
    if (customStep === undefined) {
      await this.conn.query(`UPDATE ${this.table} SET max_id = max_id + step WHERE biz_tag = ?`, [this.key]);
    } else {
      await this.conn.query(`UPDATE ${this.table} SET max_id = max_id + ? WHERE biz_tag = ?`, [customStep, this.key]);
    }
    const [rows] = (await this.conn.query(`SELECT max_id, step FROM ${this.table} WHERE biz_tag = ?`, [this.key])) as unknown as [
      { max_id: string; step: string }[],
    ];
    await this.conn.commit();
    const max = BigInt(rows[0].max_id);
    const step = BigInt(customStep ?? rows[0].step);
    for (let id = max - step; id < max; id++) if (!(this.skipZero && id === 0n)) this.ids.push(id.toString());
    this.fetches++;
  }

  /** fetches until told to stop (or maxFetches), yielding between fetches so others interleave */
  async run(stop: () => boolean, maxFetches: number, customStepEvery = 0): Promise<void> {
    while (!stop() && this.fetches < maxFetches) {
      await this.fetch(customStepEvery > 0 && this.fetches % customStepEvery === 1 ? 250 : undefined);
      await new Promise((r) => setTimeout(r, 3));
    }
  }
}

/**
 * go-id-alloc v1, one partition of TotalPartition: its pool sets the session variable
 * auto_increment_increment=TotalPartition; a segment is `REPLACE INTO partition_<idx> (meanless)
 * VALUES (0)` and its insert id n, ids [(n - 1) * SegmentSize, n * SegmentSize) without 0. It
 * fetches two segments at start and one more whenever one is left.
 */
export class ReplayedV1Partition {
  readonly counters: bigint[] = [];

  constructor(
    private readonly conn: Connection,
    readonly idx: number,
    readonly total: number,
    readonly segmentSize: number,
  ) {}

  async open(): Promise<void> {
    await this.conn.query(`SET SESSION auto_increment_increment = ${this.total}`);
  }

  async fetch(): Promise<void> {
    const [ok] = (await this.conn.query(`REPLACE INTO partition_${this.idx} (meanless) VALUES (0)`)) as unknown as [{ insertId: number }];
    this.counters.push(BigInt(ok.insertId));
  }

  /** a run that used `consumed` segments: the two fetched at start plus one refill per segment used */
  async runFor(consumed: number): Promise<void> {
    for (let i = 0; i < consumed + 2; i++) await this.fetch();
  }

  /** the highest id it could have issued: the end of its last fetched segment, minus one */
  get highestPossible(): bigint {
    const last = this.counters.reduce((a, b) => (b > a ? b : a), 0n);
    return last * BigInt(this.segmentSize) - 1n;
  }
}
