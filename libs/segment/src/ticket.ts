import { databaseUnavailable, GeneratorHealth, IdGenerator, isIdError, publicError } from '@app/core';
import { SqlPool, sqliteUnavailable, TAKE_TICKET } from '@app/database';
import type BetterSqlite3 from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** The Flickr ticket server: one ticket statement per id, nothing buffered. */
export interface TicketStore {
  /** `count` new tickets, in order; all or nothing is not promised (a failure leaves gaps) */
  take(count: number): Promise<bigint[]>;
}

/**
 * Ids a batch draws before it lets other requests run. On SQLite a chunk is one synchronous
 * transaction (one fsync, a few ms of event loop); on MySQL and PostgreSQL each id is its own round trip,
 * so the event loop is free while it waits anyway.
 */
export const TICKET_CHUNK = 250;

/** One ticket statement per id (TAKE_TICKET, beside the ticket entity), on the pool's TypeORM connection. */
export class ServerTicketStore implements TicketStore {
  constructor(private readonly db: SqlPool) {}

  async take(count: number): Promise<bigint[]> {
    const ids: bigint[] = [];
    for (let i = 0; i < count; i++) {
      // sent again after an unknown outcome (failover): a ticket that did commit is a gap, never a repeat
      if (this.db.dialect === 'postgres') {
        const [row] = await this.db.query<{ id: string }[]>(TAKE_TICKET.postgres, [], { retryUnknown: true });
        ids.push(BigInt(row.id));
      } else {
        const ok = await this.db.query<{ insertId: number | string }>(TAKE_TICKET.mysql, [], { retryUnknown: true });
        ids.push(BigInt(String(ok.insertId)));
      }
    }
    return ids;
  }
}

export class SqliteTicketStore implements TicketStore {
  private readonly takeInOneTransaction: (count: number) => bigint[];

  constructor(db: BetterSqlite3.Database) {
    const stmt = db.prepare(TAKE_TICKET.sqlite).safeIntegers(true);
    // one commit (one fsync under synchronous=FULL) for the chunk, not one per id
    this.takeInOneTransaction = db.transaction((count: number) => {
      const ids = new Array<bigint>(count);
      for (let i = 0; i < count; i++) ids[i] = (stmt.get() as { id: bigint }).id;
      return ids;
    });
  }

  async take(count: number): Promise<bigint[]> {
    try {
      return this.takeInOneTransaction(count);
    } catch (e) {
      throw sqliteUnavailable(e);
    }
  }
}

/**
 * `ticket`: the baseline that shows what buffering buys. A batch is count ticket statements,
 * drawn TICKET_CHUNK at a time with the event loop free between chunks (so /health/live and
 * other requests answer during a count=10000 batch); it fails whole (the ids drawn before the
 * failure are dropped: gaps, never repeats).
 */
export class TicketGenerator implements IdGenerator {
  readonly strategy = 'ticket';
  private lastError: unknown = null;

  constructor(private readonly store: TicketStore) {}

  async next(_key: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    try {
      while (ids.length < count) {
        if (ids.length > 0) await yieldToEventLoop();
        for (const id of await this.store.take(Math.min(TICKET_CHUNK, count - ids.length))) ids.push(id.toString());
      }
    } catch (e) {
      this.lastError = e;
      if (isIdError(e)) throw e;
      throw databaseUnavailable(e);
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
            : { status: 'down', ...publicError(this.lastError) },
      },
    };
  }
}
