import { IdError } from '@app/core';
import {
  isOutcomeUnknown,
  PARTITION_LAYOUT,
  PARTITION_STATEMENTS,
  PartitionLayoutRow,
  PartitionStatements,
  SqlPool,
  sqliteUnavailable,
  SqliteWriterThread,
} from '@app/database';
import { LessThan, type EntityManager } from 'typeorm';
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
 * (MySQL; bigint on PostgreSQL), never a string in arithmetic.
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
  /** the latest layout recorded for this partition, or null; with `completeBelow`, the latest complete one below that version */
  readLayout(completeBelow?: number): Promise<PartitionLayout | null>;
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

/** the first complete layout of rows in descending version order (an unfinished re-base's rows skipped) */
function latestComplete(rows: LayoutRow[]): PartitionLayout | null {
  for (const row of rows) {
    const layout = layoutOf(row);
    if (layout?.complete) return layout;
  }
  return null;
}

const LAYOUT_COLUMNS = 'version, idx, layout_id, total, segment_size, base, first_allocation, complete';

/** a partition_layout row as the entity reads it (BIGINT columns as exact decimal strings) */
function layoutOfEntity(row: PartitionLayoutRow | null): PartitionLayout | null {
  if (row === null) return null;
  return {
    version: Number(row.version),
    idx: Number(row.idx),
    layoutId: row.layoutId,
    total: Number(row.total),
    segmentSize: Number(row.segmentSize),
    base: BigInt(row.base),
    first: BigInt(row.firstAllocation),
    complete: Number(row.complete) === 1,
  };
}

/**
 * A layout record through the entity: the layout values as decimal strings, which both servers
 * store into BIGINT exactly (never in arithmetic, where MariaDB would compute in floating point).
 */
function layoutValues(l: PartitionLayout): Partial<PartitionLayoutRow> {
  return {
    version: l.version,
    idx: l.idx,
    layoutId: l.layoutId,
    total: l.total,
    segmentSize: String(l.segmentSize),
    base: l.base.toString(),
    firstAllocation: l.first.toString(),
    complete: l.complete ? 1 : 0,
  };
}

function staleFence(idx: number, expected: number, found: number): IdError {
  return new IdError(
    'VALIDATION_FAILED',
    `partition ${idx}: layout version ${found} recorded, expected ${expected}: another re-base ran; read the layout again`,
    { details: [{ field: 'partition', problem: `partition ${idx} is at layout version ${found}` }] },
  );
}

export class ServerPartitionStore implements PartitionStore {
  private readonly table: string;
  /** the hand-written statements, beside the partition entities: allocation, locks, skip */
  private readonly sql: PartitionStatements;

  constructor(
    readonly idx: number,
    private readonly db: SqlPool,
  ) {
    this.table = `partition_${idx}`;
    this.sql = PARTITION_STATEMENTS[db.dialect];
  }

  /** MySQL answers an OK packet (insertId), PostgreSQL the RETURNING row */
  private allocated(answer: unknown): bigint {
    return BigInt(String(Array.isArray(answer) ? answer[0].id : (answer as { insertId: unknown }).insertId));
  }

  /** the last id a partition table holds as an allocation number (-1: none) */
  private lastIdSql(): string {
    return `SELECT CAST(MAX(id) AS ${this.sql.text}) AS id FROM ${this.table}`;
  }

  /**
   * One transaction: the layout read under the shared lock, then the allocation. A re-base's
   * fence takes the lock exclusively before it takes its own allocation and reads the last one, so
   * it waits for every allocation made under the old version to commit (MAX(id) alone could lag
   * one whose value was taken before the fence's and committed after), and an allocation that
   * starts after the fence reads the new version and is never used.
   */
  async allocate(): Promise<{ n: bigint; version: number }> {
    let n: bigint | undefined;
    try {
      return await this.transaction(async (query) => {
        n = undefined; // run again after a rollback (a Galera certification conflict): only this run's allocation counts
        const lock = this.sql.lockShared(this.idx);
        if (lock !== null) await query(lock);
        const [row] = await query(this.sql.latestVersionShared, [this.idx]);
        // the first id is 1, so id n+1 is allocation n
        n = this.allocated(await query(this.sql.allocate(this.table))) - 1n;
        return { n, version: Number(row?.version ?? 0) };
      });
    } catch (e) {
      // the allocation answered but the commit's answer was lost: it may have committed. A
      // transaction the server rolled back (or whose COMMIT it refused) committed nothing: counting
      // its number would raise the guard above what the partition reached, and another Galera
      // node, whose counter never saw it, may rightly hand out a number below it.
      if (n !== undefined && isOutcomeUnknown(e)) throw new AllocationUnverified(n, e);
      throw e;
    }
  }

  async current(): Promise<bigint> {
    const row = await this.db.withManager(
      (m) =>
        m
          .createQueryBuilder()
          .select(`CAST(MAX(p.id) AS ${this.sql.text})`, 'id')
          .from(this.table, 'p')
          .getRawOne<{ id: string | null }>(),
      { repeatable: true },
    );
    return row?.id == null ? -1n : BigInt(row.id) - 1n;
  }

  async readLayout(completeBelow?: number): Promise<PartitionLayout | null> {
    return this.db.withManager(
      async (m) => {
        const layouts = m.getRepository<PartitionLayoutRow>(PARTITION_LAYOUT);
        if (completeBelow === undefined) return layoutOfEntity(await layouts.findOne({ where: { idx: this.idx }, order: { version: 'DESC' } }));
        // the latest complete one below that version (an unfinished re-base's rows skipped)
        const below = await layouts.find({ where: { idx: this.idx, version: LessThan(completeBelow) }, order: { version: 'DESC' } });
        return below.map(layoutOfEntity).find((l) => l?.complete) ?? null;
      },
      { repeatable: true },
    );
  }

  async insertLayout(l: PartitionLayout): Promise<void> {
    try {
      await this.db.withManager((m) => this.insertLayoutWith(m, layoutValues(l)));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ER_DUP_ENTRY') throw e;
    }
  }

  /** a layout record; one that exists already is left as it is (PostgreSQL: ON CONFLICT DO NOTHING, MySQL: the caller's ER_DUP_ENTRY) */
  private async insertLayoutWith(m: EntityManager, values: Partial<PartitionLayoutRow>): Promise<void> {
    const insert = m.createQueryBuilder().insert().into(PARTITION_LAYOUT).values(values).updateEntity(false);
    await (this.db.dialect === 'postgres' ? insert.orIgnore() : insert).execute();
  }

  /** the few statements that must share a transaction (skip, re-base), on one connection of the pool */
  private transaction<T>(work: (query: (sql: string, values?: unknown[]) => Promise<any>, manager: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction((query, manager) => work((sql, values) => query<any>(sql, values), manager));
  }

  async fence(f: LayoutFence, expected: number): Promise<bigint> {
    return this.transaction(async (query, manager) => {
      const lock = this.sql.lockExclusive(this.idx);
      if (lock !== null) await query(lock);
      const [latest] = await query(this.sql.latestVersionExclusive, [this.idx]);
      const found = Number(latest?.version ?? 0);
      if (found !== expected) throw staleFence(this.idx, expected, found);
      await query(this.sql.allocate(this.table));
      const [row] = await query(this.lastIdSql());
      const last = BigInt(String(row.id)) - 1n;
      // the new version, incomplete until its base is known (completeLayout)
      await manager
        .createQueryBuilder()
        .insert()
        .into(PARTITION_LAYOUT)
        .values(layoutValues({ ...f, idx: this.idx, base: 0n, first: last + 1n, complete: false }))
        .updateEntity(false)
        .execute();
      return last;
    });
  }

  async completeLayout(version: number, base: bigint): Promise<void> {
    await this.db.withManager(
      (m) => m.getRepository<PartitionLayoutRow>(PARTITION_LAYOUT).update({ idx: this.idx, version }, { base: base.toString(), complete: 1 }),
      { repeatable: true }, // sets the same values again
    );
  }

  async skipTo(next: bigint): Promise<void> {
    await this.transaction(async (query) => {
      // the layout row (MySQL) or the partition's lock (PostgreSQL) first, so concurrent skips of one partition serialise here
      const lock = this.sql.lockExclusive(this.idx);
      if (lock !== null) await query(lock);
      else await query('SELECT version FROM partition_layout WHERE idx = ? ORDER BY version DESC LIMIT 1 FOR UPDATE', [this.idx]);
      const [row] = await query(this.lastIdSql());
      const current = row?.id == null ? -1n : BigInt(String(row.id)) - 1n;
      if (next <= current) throw skipBackwards(this.idx, current, next);
      // id next+1... is allocation next
      for (const sql of this.sql.setLast(this.table)) await query(sql, [next.toString()]);
      await query(this.sql.countSkip, this.db.dialect === 'postgres' ? [this.idx, this.idx] : [this.idx]);
    });
  }

  async poll(): Promise<PartitionPollAnswer> {
    const t = this.sql.text;
    const row = await this.db.withManager(
      (m) =>
        m
          .getRepository<PartitionLayoutRow>(PARTITION_LAYOUT)
          .createQueryBuilder('l')
          .select(`CAST(l.version AS ${t})`, 'version')
          .addSelect(`CAST(l.skips AS ${t})`, 'skips')
          .addSelect((sub) => sub.select(`CAST(MAX(p.id) AS ${t})`).from(this.table, 'p'), 'last_id')
          .where('l.idx = :idx', { idx: this.idx })
          .orderBy('l.version', 'DESC')
          .limit(1)
          .getRawOne<{ version: string; skips: string; last_id: string | null }>(),
      { repeatable: true },
    );
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

  async readLayout(completeBelow?: number): Promise<PartitionLayout | null> {
    if (completeBelow === undefined) return this.run(() => layoutOf(this.layoutStmt.get(this.idx) as LayoutRow | undefined));
    return this.run(() =>
      latestComplete(
        this.db
          .prepare(`SELECT ${LAYOUT_COLUMNS} FROM partition_layout WHERE idx = ? AND version < ? ORDER BY version DESC`)
          .safeIntegers(true)
          .all(this.idx, completeBelow) as LayoutRow[],
      ),
    );
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
