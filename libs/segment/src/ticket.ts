import { GeneratorHealth, IdError, IdGenerator, isIdError } from '@app/core';
import { MysqlPool, sqliteUnavailable } from '@app/database';
import type BetterSqlite3 from 'better-sqlite3';

/** The Flickr ticket server: one database round trip per id, nothing buffered. */
export interface TicketStore {
  next(): Promise<bigint>;
}

export class MysqlTicketStore implements TicketStore {
  constructor(private readonly db: MysqlPool) {}

  async next(): Promise<bigint> {
    // sent again after an unknown outcome (failover): a ticket that did commit is a gap, never a repeat
    const ok = await this.db.query<{ insertId: number | string }>("REPLACE INTO ticket (stub) VALUES ('a')", [], { retryUnknown: true });
    return BigInt(String(ok.insertId));
  }
}

export class SqliteTicketStore implements TicketStore {
  private readonly stmt: BetterSqlite3.Statement;

  constructor(db: BetterSqlite3.Database) {
    this.stmt = db.prepare("REPLACE INTO ticket (stub) VALUES ('a') RETURNING id").safeIntegers(true);
  }

  async next(): Promise<bigint> {
    try {
      return (this.stmt.get() as { id: bigint }).id;
    } catch (e) {
      throw sqliteUnavailable(e);
    }
  }
}

/**
 * `ticket`: the baseline that shows what buffering buys. A batch is count round trips; it fails
 * whole (the ids drawn before the failure are dropped: gaps, never repeats).
 */
export class TicketGenerator implements IdGenerator {
  readonly strategy = 'ticket';
  private lastError: unknown = null;

  constructor(private readonly store: TicketStore) {}

  async next(_key: string, count: number): Promise<string[]> {
    const ids = new Array<string>(count);
    try {
      for (let i = 0; i < count; i++) ids[i] = (await this.store.next()).toString();
    } catch (e) {
      this.lastError = e;
      if (isIdError(e)) throw e;
      throw new IdError('DATABASE_UNAVAILABLE', `ticket database failed: ${(e as Error).message}`, { cause: e });
    }
    this.lastError = null;
    return ids;
  }

  /** without its database ticket cannot issue on any instance: a shared trouble, never 503 */
  health(): GeneratorHealth {
    return {
      ready: true,
      detail: {
        database:
          this.lastError === null
            ? { status: 'up' }
            : { status: 'down', message: (this.lastError as Error).message ?? String(this.lastError) },
      },
    };
  }
}
