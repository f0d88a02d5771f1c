import { EntitySchema } from 'typeorm';
import { DECIMAL_STRING, perDialect, SqlDialect, SQLITE_AUTOINCREMENT_ID } from './dialect';

/** The Flickr ticket server's table (Ticket1767225600300): one row, its auto-increment id the sequence. */
export interface TicketRow {
  id: string;
  stub: string;
}

export const TICKET = 'Ticket';

export function ticketEntity(dialect: SqlDialect): EntitySchema<TicketRow> {
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
    }),
    // the one row REPLACE INTO replaces: MySQL's named UNIQUE KEY, SQLite's inline UNIQUE
    indices: perDialect(dialect, { mysql: [{ name: 'stub', columns: ['stub'], unique: true }], sqlite: [] }),
    uniques: perDialect(dialect, { mysql: [], sqlite: [{ columns: ['stub'] }] }),
  });
}
