import { EntitySchema } from 'typeorm';
import { DECIMAL_STRING, perDialect, EntityDialect, SQLITE_AUTOINCREMENT_ID, PG_IDENTITY } from './dialect';

/** The Flickr ticket server's table (Ticket1767225600300): one row, its auto-increment id the sequence. */
export interface TicketRow {
  id: string;
  stub: string;
}

export const TICKET = 'Ticket';

/**
 * The ticket itself: one statement per id, whose atomicity is the guarantee (written by hand, once
 * per dialect, here beside its table). MySQL: Flickr's REPLACE, the id the OK packet's insertId.
 * PostgreSQL: the same row replaced by an upsert that takes the identity's next value and returns
 * it; the row write makes the commit flush the sequence's WAL record too (a bare nextval() in a
 * transaction that writes nothing else may be lost in a crash, and repeat). SQLite: REPLACE
 * returning the id.
 */
export const TAKE_TICKET: Record<EntityDialect, string> = {
  mysql: "REPLACE INTO ticket (stub) VALUES ('a')",
  postgres: "INSERT INTO ticket (stub) VALUES ('a') ON CONFLICT (stub) DO UPDATE SET id = EXCLUDED.id RETURNING id",
  sqlite: "REPLACE INTO ticket (stub) VALUES ('a') RETURNING id",
};

export function ticketEntity(dialect: EntityDialect): EntitySchema<TicketRow> {
  return new EntitySchema<TicketRow>({
    name: TICKET,
    tableName: 'ticket',
    columns: perDialect(dialect, {
      mysql: {
        id: { type: 'bigint', transformer: DECIMAL_STRING, width: 20, unsigned: true, primary: true, generated: 'increment' },
        stub: { type: 'char', length: 1, default: '' },
      },
      sqlite: {
        id: { ...SQLITE_AUTOINCREMENT_ID, transformer: DECIMAL_STRING },
        stub: { type: 'char', length: 1 },
      },
      postgres: {
        id: { type: 'bigint', transformer: DECIMAL_STRING, primary: true, ...PG_IDENTITY },
        stub: { type: 'char', length: 1 },
      },
    }),
    // the one row REPLACE INTO (an upsert on PostgreSQL) replaces: MySQL's named UNIQUE KEY, an inline UNIQUE elsewhere
    indices: perDialect(dialect, { mysql: [{ name: 'stub', columns: ['stub'], unique: true }], sqlite: [], postgres: [] }),
    uniques: perDialect(dialect, { mysql: [], sqlite: [{ columns: ['stub'] }], postgres: [{ columns: ['stub'] }] }),
  });
}
