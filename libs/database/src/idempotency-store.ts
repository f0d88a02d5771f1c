import { IdempotencyRecord, IdempotencyStore } from '@app/core';
import type BetterSqlite3 from 'better-sqlite3';
import type { SqlPool } from './sql-pool';
import { sqliteUnavailable } from './sqlite-handle';
import type { SqliteWriterThread } from './sqlite-writer-thread';

type Dialect = 'mysql' | 'sqlite' | 'postgres';

/** Each statement of id_idempotency, one branch per dialect. */
export const IDEMPOTENCY_SQL = {
  claim(dialect: Dialect): string {
    switch (dialect) {
      case 'mysql':
        return 'INSERT IGNORE INTO id_idempotency (idem_key, fingerprint, owner, answer, created_at) VALUES (?, ?, ?, NULL, ?)';
      case 'sqlite':
        return 'INSERT OR IGNORE INTO id_idempotency (idem_key, fingerprint, owner, answer, created_at) VALUES (?, ?, ?, NULL, ?)';
      case 'postgres':
        return 'INSERT INTO id_idempotency (idem_key, fingerprint, owner, answer, created_at) VALUES (?, ?, ?, NULL, ?) ON CONFLICT (idem_key) DO NOTHING';
    }
  },
  read(dialect: Dialect): string {
    switch (dialect) {
      case 'mysql':
        return 'SELECT fingerprint, owner, answer, CAST(created_at AS CHAR) AS created_at FROM id_idempotency WHERE idem_key = ?';
      case 'sqlite':
        return 'SELECT fingerprint, owner, answer, created_at FROM id_idempotency WHERE idem_key = ?';
      case 'postgres':
        return 'SELECT fingerprint, owner, answer, CAST(created_at AS TEXT) AS created_at FROM id_idempotency WHERE idem_key = ?';
    }
  },
  complete(_dialect: Dialect): string {
    return 'UPDATE id_idempotency SET answer = ? WHERE idem_key = ? AND owner = ? AND answer IS NULL';
  },
  release(_dialect: Dialect): string {
    return 'DELETE FROM id_idempotency WHERE idem_key = ? AND owner = ? AND answer IS NULL';
  },
  takeOver(_dialect: Dialect): string {
    return 'UPDATE id_idempotency SET owner = ?, fingerprint = ?, answer = NULL, created_at = ? WHERE idem_key = ? AND owner = ?';
  },
  purge(dialect: Dialect): string {
    switch (dialect) {
      case 'mysql':
        return 'DELETE FROM id_idempotency WHERE created_at < ? LIMIT ?';
      case 'sqlite':
        return 'DELETE FROM id_idempotency WHERE rowid IN (SELECT rowid FROM id_idempotency WHERE created_at < ? LIMIT ?)';
      case 'postgres':
        return 'DELETE FROM id_idempotency WHERE idem_key IN (SELECT idem_key FROM id_idempotency WHERE created_at < ? LIMIT ?)';
    }
  },
};

interface Row {
  fingerprint: string;
  owner: string;
  answer: string | null;
  created_at: string | bigint | number;
}

const toRecord = (r: Row | undefined): IdempotencyRecord | null =>
  r === undefined ? null : { fingerprint: r.fingerprint, owner: r.owner, answer: r.answer, createdAt: Number(r.created_at) };

interface OkPacket {
  affectedRows: number;
}

/** MySQL/MariaDB or PostgreSQL, through the main database's pool (its failover included) */
export class ServerIdempotencyStore implements IdempotencyStore {
  private readonly dialect: 'mysql' | 'postgres';

  constructor(private readonly db: SqlPool) {
    this.dialect = db.dialect;
  }

  async claim(key: string, fingerprint: string, owner: string, nowMs: number): Promise<boolean> {
    return (await this.db.query<OkPacket>(IDEMPOTENCY_SQL.claim(this.dialect), [key, fingerprint, owner, nowMs])).affectedRows === 1;
  }

  async read(key: string): Promise<IdempotencyRecord | null> {
    return toRecord((await this.db.query<Row[]>(IDEMPOTENCY_SQL.read(this.dialect), [key]))[0]);
  }

  async complete(key: string, owner: string, answer: string): Promise<boolean> {
    return (await this.db.query<OkPacket>(IDEMPOTENCY_SQL.complete(this.dialect), [answer, key, owner])).affectedRows === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.db.query(IDEMPOTENCY_SQL.release(this.dialect), [key, owner]);
  }

  async takeOver(key: string, previousOwner: string, owner: string, fingerprint: string, nowMs: number): Promise<boolean> {
    const ok = await this.db.query<OkPacket>(IDEMPOTENCY_SQL.takeOver(this.dialect), [owner, fingerprint, nowMs, key, previousOwner]);
    return ok.affectedRows === 1;
  }

  async purge(beforeMs: number, limit: number): Promise<number> {
    return (await this.db.query<OkPacket>(IDEMPOTENCY_SQL.purge(this.dialect), [beforeMs, limit])).affectedRows;
  }
}

/** Writes on the writer thread (they recur with traffic), the read on the event loop's connection. */
export class SqliteIdempotencyStore implements IdempotencyStore {
  private readonly readStmt: BetterSqlite3.Statement;

  constructor(
    db: BetterSqlite3.Database,
    private readonly writer: SqliteWriterThread,
  ) {
    this.readStmt = db.prepare(IDEMPOTENCY_SQL.read('sqlite')).safeIntegers(true);
  }

  async claim(key: string, fingerprint: string, owner: string, nowMs: number): Promise<boolean> {
    return (await this.writer.run(IDEMPOTENCY_SQL.claim('sqlite'), [key, fingerprint, owner, BigInt(nowMs)])) === 1;
  }

  async read(key: string): Promise<IdempotencyRecord | null> {
    try {
      return toRecord(this.readStmt.get(key) as Row | undefined);
    } catch (e) {
      throw sqliteUnavailable(e);
    }
  }

  async complete(key: string, owner: string, answer: string): Promise<boolean> {
    return (await this.writer.run(IDEMPOTENCY_SQL.complete('sqlite'), [answer, key, owner])) === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.writer.run(IDEMPOTENCY_SQL.release('sqlite'), [key, owner]);
  }

  async takeOver(key: string, previousOwner: string, owner: string, fingerprint: string, nowMs: number): Promise<boolean> {
    return (await this.writer.run(IDEMPOTENCY_SQL.takeOver('sqlite'), [owner, fingerprint, BigInt(nowMs), key, previousOwner])) === 1;
  }

  async purge(beforeMs: number, limit: number): Promise<number> {
    return this.writer.run(IDEMPOTENCY_SQL.purge('sqlite'), [BigInt(beforeMs), BigInt(limit)]);
  }
}
