import { MigrationInterface, QueryRunner } from 'typeorm';

/** The Flickr ticket server's table: one row, its auto-increment id the sequence. */
export class Ticket1767225600300 implements MigrationInterface {
  name = 'Ticket1767225600300';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'mysql') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS ticket (
           id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
           stub char(1) NOT NULL DEFAULT '',
           PRIMARY KEY (id),
           UNIQUE KEY stub (stub)
         ) ENGINE=InnoDB`,
      );
    } else {
      // AUTOINCREMENT: REPLACE deletes the row, and a plain rowid would then be handed out again.
      await q.query('CREATE TABLE IF NOT EXISTS ticket (id INTEGER PRIMARY KEY AUTOINCREMENT, stub char(1) NOT NULL UNIQUE)');
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS ticket');
  }
}
