import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * id_idempotency: one row per Idempotency-Key of POST /ids/:strategy (issue 30): the request's
 * fingerprint, the attempt that holds it (owner), the answer once given (NULL while pending),
 * created_at in ms. Rows past IDEMPOTENCY_TTL_MS are removed in the background, in batches.
 */
export class Idempotency1767225600800 implements MigrationInterface {
  name = 'Idempotency1767225600800';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'mysql') {
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_idempotency (
           idem_key varchar(255) COLLATE utf8mb4_bin NOT NULL,
           fingerprint char(64) NOT NULL,
           owner varchar(64) NOT NULL,
           answer mediumtext NULL,
           created_at bigint NOT NULL,
           PRIMARY KEY (idem_key),
           KEY created_at (created_at)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      );
    } else {
      // PostgreSQL: the key compared byte for byte (COLLATE "C"), as on MySQL; SQLite compares so already
      const collate = q.connection.options.type === 'postgres' ? ' COLLATE "C"' : '';
      await q.query(
        `CREATE TABLE IF NOT EXISTS id_idempotency (
           idem_key varchar(255)${collate} NOT NULL PRIMARY KEY,
           fingerprint char(64) NOT NULL,
           owner varchar(64) NOT NULL,
           answer text NULL,
           created_at bigint NOT NULL
         )`,
      );
      await q.query('CREATE INDEX IF NOT EXISTS id_idempotency_created_at ON id_idempotency (created_at)');
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS id_idempotency');
  }
}
