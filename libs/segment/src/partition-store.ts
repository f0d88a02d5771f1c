import { IdError } from '@app/core';
import { MysqlPool, sqliteUnavailable, SqliteWriterThread } from '@app/database';
import type BetterSqlite3 from 'better-sqlite3';
import { PartitionLayout } from './partition-layout';

/** What one poll of a partition's database reads, in one statement. */
export interface PartitionPollAnswer {
  /** latest layout version recorded for the partition (0: none) */
  version: number;
  /** the partition's skip counter under that version */
  skips: bigint;
  /** the last allocation number handed out, or -1 */
  last: bigint;
}

/** A new layout version written over a partition at a re-base, before its base is known. */
export interface LayoutFence {
  version: number;
  layoutId: string;
  total: number;
  segmentSize: number;
}

/**
 * One go-id-alloc partition table and its layout record, in the partition's database. Every
 * integer reaches SQL exact: a BigInt (SQLite) or a decimal string inside CAST(? AS SIGNED)
 * (MySQL), never a string in arithmetic.
 */
export interface PartitionStore {
  readonly idx: number;
  /**
   * The next allocation number n (from 0): `REPLACE INTO partition_N`, then the layout version
   * recorded after it, so an allocation a re-base overtook is recognised and never used.
   */
  allocate(): Promise<{ n: bigint; version: number }>;
  /** the last allocation number handed out, or -1 */
  current(): Promise<bigint>;
  /** the latest layout recorded for this partition, or null */
  readLayout(): Promise<PartitionLayout | null>;
  /** writes the first layout: an INSERT that fails if one exists (the caller reads back) */
  insertLayout(layout: PartitionLayout): Promise<void>;
  /**
   * A re-base's fence, in one transaction: refuses unless the latest version is `expected`,
   * takes one allocation (the last the old layout can see) and records `fence` as an incomplete
   * version starting after it. Returns that last allocation number.
   */
  fence(fence: LayoutFence, expected: number): Promise<bigint>;
  /** completes a fenced version with its base */
  completeLayout(version: number, base: bigint): Promise<void>;
  /** makes the next allocation number `next` (never back: SKIP_BACKWARDS) and counts the skip, atomically */
  skipTo(next: bigint): Promise<void>;
  poll(): Promise<PartitionPollAnswer>;
}

/**
 * An allocation the database answered whose transaction's outcome is unknown (the commit's answer
 * lost): the number is not used, yet it still tells the rollback guard how far the partition may
 * have reached (a database that later hands out a number at or below it lost writes).
 */
export class AllocationUnverified extends IdError {
  constructor(
    readonly allocation: bigint,
    cause: unknown,
  ) {
    super('DATABASE_UNAVAILABLE', `allocation ${allocation} made, its layout version unread: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

export function skipBackwards(idx: number, current: bigint, next: bigint): IdError {
  return new IdError(
    'SKIP_BACKWARDS',
    `partition ${idx} already handed out allocation ${current}; the next cannot be ${next} (skips only move ahead)`,
  );
}

interface LayoutRow {
  version: string | number | bigint;
  idx: string | number | bigint;
  layout_id: string;
  total: string | number | bigint;
  segment_size: string | number | bigint;
  base: string | number | bigint;
  first_allocation: string | number | bigint;
  complete: string | number | bigint;
}

function layoutOf(row: LayoutRow | undefined): PartitionLayout | null {
  if (row === undefined) return null;
  return {
    version: Number(row.version),
    idx: Number(row.idx),
    layoutId: String(row.layout_id),
    total: Number(row.total),
    segmentSize: Number(row.segment_size),
    base: BigInt(String(row.base)),
    first: BigInt(String(row.first_allocation)),
    complete: Number(row.complete) === 1,
  };
}

const LAYOUT_COLUMNS = 'version, idx, layout_id, total, segment_size, base, first_allocation, complete';
const MYSQL_LAYOUT_COLUMNS =
  'version, idx, layout_id, total, CAST(segment_size AS CHAR) AS segment_size, CAST(base AS CHAR) AS base, ' +
  'CAST(first_allocation AS CHAR) AS first_allocation, complete';

function staleFence(idx: number, expected: number, found: number): IdError {
  return new IdError(
    'VALIDATION_FAILED',
    `partition ${idx}: layout version ${found} recorded, expected ${expected}: another re-base ran; read the layout again`,
    { details: [{ field: 'partition', problem: `partition ${idx} is at layout version ${found}` }] },
  );
}

export class MysqlPartitionStore implements PartitionStore {
  private readonly table: string;

  constructor(
    readonly idx: number,
    private readonly db: MysqlPool,
  ) {
    this.table = `partition_${idx}`;
  }

  /**
   * One transaction: the layout row read under a shared lock, then the allocation. A re-base's
   * fence locks that row for update before it takes its own allocation and reads the last one, so
   * it waits for every allocation made under the old version to commit (MAX(id) alone could lag
   * one whose auto-increment value was taken before the fence's and committed after), and an
   * allocation that starts after the fence reads the new version and is never used.
   */
  async allocate(): Promise<{ n: bigint; version: number }> {
    let n: bigint | undefined;
    try {
      return await this.transaction(async (query) => {
        const [row] = await query('SELECT CAST(MAX(version) AS CHAR) AS version FROM partition_layout WHERE idx = ? LOCK IN SHARE MODE', [
          this.idx,
        ]);
        // auto_increment starts at 1, so id n+1 is allocation n
        const ok = await query(`REPLACE INTO ${this.table} (meanless) VALUES (0)`);
        n = BigInt(String(ok.insertId)) - 1n;
        return { n, version: Number(row?.version ?? 0) };
      });
    } catch (e) {
      // the allocation answered but its commit did not: it may have committed
      if (n !== undefined) throw new AllocationUnverified(n, e);
      throw e;
    }
  }

  async current(): Promise<bigint> {
    const rows = await this.db.query<{ id: string | null }[]>(`SELECT CAST(MAX(id) AS CHAR) AS id FROM ${this.table}`);
    return rows[0]?.id == null ? -1n : BigInt(rows[0].id) - 1n;
  }

  async readLayout(): Promise<PartitionLayout | null> {
    const rows = await this.db.query<LayoutRow[]>(
      `SELECT ${MYSQL_LAYOUT_COLUMNS} FROM partition_layout WHERE idx = ? ORDER BY version DESC LIMIT 1`,
      [this.idx],
    );
    return layoutOf(rows[0]);
  }

  async insertLayout(l: PartitionLayout): Promise<void> {
    try {
      await this.db.query(
        `INSERT INTO partition_layout (${LAYOUT_COLUMNS}) VALUES (?, ?, ?, ?, CAST(? AS SIGNED), CAST(? AS SIGNED), CAST(? AS SIGNED), ?)`,
        [l.version, l.idx, l.layoutId, l.total, String(l.segmentSize), l.base.toString(), l.first.toString(), l.complete ? 1 : 0],
      );
    } catch (e) {
      if ((e as { code?: string }).code !== 'ER_DUP_ENTRY') throw e;
    }
  }

  /** the few statements that must share a transaction (skip, re-base), on one connection of the pool */
  private transaction<T>(work: (query: (sql: string, values?: unknown[]) => Promise<any>) => Promise<T>): Promise<T> {
    return this.db.transaction((query) => work((sql, values) => query<any>(sql, values)));
  }

  async fence(f: LayoutFence, expected: number): Promise<bigint> {
    return this.transaction(async (query) => {
      const [latest] = await query('SELECT CAST(MAX(version) AS CHAR) AS version FROM partition_layout WHERE idx = ? FOR UPDATE', [this.idx]);
      const found = Number(latest?.version ?? 0);
      if (found !== expected) throw staleFence(this.idx, expected, found);
      await query(`REPLACE INTO ${this.table} (meanless) VALUES (0)`);
      const [row] = await query(`SELECT CAST(MAX(id) AS CHAR) AS id FROM ${this.table}`);
      const last = BigInt(String(row.id)) - 1n;
      await query(
        `INSERT INTO partition_layout (${LAYOUT_COLUMNS}) VALUES (?, ?, ?, ?, CAST(? AS SIGNED), 0, CAST(? AS SIGNED), 0)`,
        [f.version, this.idx, f.layoutId, f.total, String(f.segmentSize), (last + 1n).toString()],
      );
      return last;
    });
  }

  async completeLayout(version: number, base: bigint): Promise<void> {
    await this.db.query('UPDATE partition_layout SET base = CAST(? AS SIGNED), complete = 1 WHERE idx = ? AND version = ?', [
      base.toString(),
      this.idx,
      version,
    ]);
  }

  async skipTo(next: bigint): Promise<void> {
    await this.transaction(async (query) => {
      // the layout row is locked first, so concurrent skips of one partition serialise here
      await query('SELECT version FROM partition_layout WHERE idx = ? ORDER BY version DESC LIMIT 1 FOR UPDATE', [this.idx]);
      const [row] = await query(`SELECT CAST(MAX(id) AS CHAR) AS id FROM ${this.table}`);
      const current = row?.id == null ? -1n : BigInt(String(row.id)) - 1n;
      if (next <= current) throw skipBackwards(this.idx, current, next);
      // an explicit id moves the auto-increment counter past it; id next+1... is allocation next
      await query(`REPLACE INTO ${this.table} (id, meanless) VALUES (CAST(? AS SIGNED), 0)`, [next.toString()]);
      await query('UPDATE partition_layout SET skips = skips + 1 WHERE idx = ? ORDER BY version DESC LIMIT 1', [this.idx]);
    });
  }

  async poll(): Promise<PartitionPollAnswer> {
    const rows = await this.db.query<{ version: string; skips: string; last_id: string | null }[]>(
      `SELECT CAST(version AS CHAR) AS version, CAST(skips AS CHAR) AS skips,
              (SELECT CAST(MAX(id) AS CHAR) FROM ${this.table}) AS last_id
         FROM partition_layout WHERE idx = ? ORDER BY version DESC LIMIT 1`,
      [this.idx],
    );
    const row = rows[0];
    if (row === undefined) return { version: 0, skips: 0n, last: -1n };
    return { version: Number(row.version), skips: BigInt(row.skips), last: row.last_id === null ? -1n : BigInt(row.last_id) - 1n };
  }
}

/**
 * A partition table on the embedded SQLite file. The allocation, a commit per partition segment,
 * runs on the writer thread (off the event loop, see SqliteWriterThread); the rest is rare.
 */
export class SqlitePartitionStore implements PartitionStore {
  private readonly allocateSql: string;
  private readonly versionSql = 'SELECT MAX(version) AS version FROM partition_layout WHERE idx = ?';
  private readonly allocateStmt: BetterSqlite3.Statement;
  private readonly versionStmt: BetterSqlite3.Statement;
  private readonly currentStmt: BetterSqlite3.Statement;
  private readonly layoutStmt: BetterSqlite3.Statement;
  private readonly pollStmt: BetterSqlite3.Statement;
  private readonly table: string;

  constructor(
    readonly idx: number,
    private readonly db: BetterSqlite3.Database,
    private readonly writer: SqliteWriterThread,
  ) {
    this.table = `partition_${idx}`;
    this.allocateSql = `REPLACE INTO ${this.table} (meanless) VALUES (0) RETURNING id`;
    this.allocateStmt = db.prepare(this.allocateSql).safeIntegers(true);
    this.versionStmt = db.prepare(this.versionSql).safeIntegers(true);
    this.currentStmt = db.prepare(`SELECT MAX(id) AS id FROM ${this.table}`).safeIntegers(true);
    this.layoutStmt = db
      .prepare(`SELECT ${LAYOUT_COLUMNS} FROM partition_layout WHERE idx = ? ORDER BY version DESC LIMIT 1`)
      .safeIntegers(true);
    this.pollStmt = db
      .prepare(
        `SELECT version, skips, (SELECT MAX(id) FROM ${this.table}) AS last_id
           FROM partition_layout WHERE idx = ? ORDER BY version DESC LIMIT 1`,
      )
      .safeIntegers(true);
  }

  private run<T>(work: () => T): T {
    try {
      return work();
    } catch (e) {
      throw sqliteUnavailable(e);
    }
  }

  async allocate(): Promise<{ n: bigint; version: number }> {
    const [allocated, layout] = (await this.writer.transaction([
      { sql: this.allocateSql, params: [], answer: 'get' },
      { sql: this.versionSql, params: [this.idx], answer: 'get' },
    ])) as [{ id: bigint }, { version: bigint | null }];
    return { n: allocated.id - 1n, version: Number(layout.version ?? 0n) };
  }

  async current(): Promise<bigint> {
    return this.run(() => {
      const row = this.currentStmt.get() as { id: bigint | null };
      return row.id === null ? -1n : row.id - 1n;
    });
  }

  async readLayout(): Promise<PartitionLayout | null> {
    return this.run(() => layoutOf(this.layoutStmt.get(this.idx) as LayoutRow | undefined));
  }

  async insertLayout(l: PartitionLayout): Promise<void> {
    this.run(() =>
      this.db
        .prepare(`INSERT OR IGNORE INTO partition_layout (${LAYOUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(l.version, l.idx, l.layoutId, l.total, BigInt(l.segmentSize), l.base, l.first, l.complete ? 1 : 0),
    );
  }

  async fence(f: LayoutFence, expected: number): Promise<bigint> {
    return this.run(() =>
      this.db.transaction(() => {
        const found = Number((this.versionStmt.get(this.idx) as { version: bigint | null }).version ?? 0n);
        if (found !== expected) throw staleFence(this.idx, expected, found);
        const last = (this.allocateStmt.get() as { id: bigint }).id - 1n;
        this.db
          .prepare(`INSERT INTO partition_layout (${LAYOUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, ?, 0)`)
          .run(f.version, this.idx, f.layoutId, f.total, BigInt(f.segmentSize), last + 1n);
        return last;
      }).immediate(),
    );
  }

  async completeLayout(version: number, base: bigint): Promise<void> {
    this.run(() =>
      this.db.prepare('UPDATE partition_layout SET base = ?, complete = 1 WHERE idx = ? AND version = ?').run(base, this.idx, version),
    );
  }

  async skipTo(next: bigint): Promise<void> {
    this.run(() =>
      this.db.transaction(() => {
        const row = this.currentStmt.get() as { id: bigint | null };
        const current = row.id === null ? -1n : row.id - 1n;
        if (next <= current) throw skipBackwards(this.idx, current, next);
        this.db.prepare(`REPLACE INTO ${this.table} (id, meanless) VALUES (?, 0)`).run(next);
        this.db
          .prepare('UPDATE partition_layout SET skips = skips + 1 WHERE idx = ? AND version = (SELECT MAX(version) FROM partition_layout WHERE idx = ?)')
          .run(this.idx, this.idx);
      }).immediate(),
    );
  }

  async poll(): Promise<PartitionPollAnswer> {
    return this.run(() => {
      const row = this.pollStmt.get(this.idx) as { version: bigint; skips: bigint; last_id: bigint | null } | undefined;
      if (row === undefined) return { version: 0, skips: 0n, last: -1n };
      return { version: Number(row.version), skips: row.skips, last: row.last_id === null ? -1n : row.last_id - 1n };
    });
  }
}
