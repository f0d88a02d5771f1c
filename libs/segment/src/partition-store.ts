import { IdError } from '@app/core';
import { MysqlPool, sqliteUnavailable } from '@app/database';
import type BetterSqlite3 from 'better-sqlite3';

/** One go-id-alloc partition table. */
export interface PartitionStore {
  readonly idx: number;
  /** the next allocation number n (from 0) of this partition: `REPLACE INTO partition_N`, one round trip */
  allocate(): Promise<bigint>;
  /** the last allocation number handed out, or -1 */
  current(): Promise<bigint>;
  /** makes the next allocation number `next` (never back: SKIP_BACKWARDS) */
  skipTo(next: bigint): Promise<void>;
}


function backwards(idx: number, current: bigint, next: bigint): IdError {
  return new IdError(
    'SKIP_BACKWARDS',
    `partition ${idx} already handed out allocation ${current}; the next cannot be ${next} (skips only move ahead)`,
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

  async allocate(): Promise<bigint> {
    // auto_increment starts at 1, so id n+1 is allocation n
    // sent again after an unknown outcome (failover): an allocation that did commit is a gap, never a repeat
    const ok = await this.db.query<{ insertId: number | string }>(`REPLACE INTO ${this.table} (meanless) VALUES (0)`, [], { retryUnknown: true });
    return BigInt(String(ok.insertId)) - 1n;
  }

  async current(): Promise<bigint> {
    const rows = await this.db.query<{ id: string }[]>(`SELECT CAST(MAX(id) AS CHAR) AS id FROM ${this.table}`);
    return rows[0]?.id == null ? -1n : BigInt(rows[0].id) - 1n;
  }

  async skipTo(next: bigint): Promise<void> {
    const current = await this.current();
    if (next <= current) throw backwards(this.idx, current, next);
    // an explicit id moves the auto-increment counter past it
    await this.db.query(`REPLACE INTO ${this.table} (id, meanless) VALUES (?, 0)`, [next.toString()]);
  }
}

export class SqlitePartitionStore implements PartitionStore {
  private readonly allocateStmt: BetterSqlite3.Statement;
  private readonly currentStmt: BetterSqlite3.Statement;

  constructor(
    readonly idx: number,
    private readonly db: BetterSqlite3.Database,
  ) {
    this.allocateStmt = db.prepare(`REPLACE INTO partition_${idx} (meanless) VALUES (0) RETURNING id`).safeIntegers(true);
    this.currentStmt = db.prepare(`SELECT MAX(id) AS id FROM partition_${idx}`).safeIntegers(true);
  }

  async allocate(): Promise<bigint> {
    try {
      return (this.allocateStmt.get() as { id: bigint }).id - 1n;
    } catch (e) {
      throw sqliteUnavailable(e);
    }
  }

  async current(): Promise<bigint> {
    const row = this.currentStmt.get() as { id: bigint | null };
    return row.id === null ? -1n : row.id - 1n;
  }

  async skipTo(next: bigint): Promise<void> {
    const current = await this.current();
    if (next <= current) throw backwards(this.idx, current, next);
    try {
      this.db.prepare(`REPLACE INTO partition_${this.idx} (id, meanless) VALUES (?, 0)`).run(next);
    } catch (e) {
      throw sqliteUnavailable(e);
    }
  }
}
