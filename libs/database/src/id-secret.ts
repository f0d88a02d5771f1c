import { AppConfig, StartupError } from '@app/core';
import { deriveFf1Key, fingerprintMatches, secretFingerprint } from '@app/fpe';
import type { DataSource } from 'typeorm';

/** Injection token: the FF1 key derived from ID_SECRET (a Buffer), or null without a secret. */
export const ID_SECRET_KEY = Symbol('ID_SECRET_KEY');

const FINGERPRINT = 'id_secret_fingerprint';

export { StartupError };

/**
 * The database remembers a fingerprint of the ID_SECRET it was first used with; a different
 * secret would map the same underlying ids to other public ids, and those could meet ids already
 * handed out, so the service refuses to start with it. Also refuses to run without a secret when
 * public keys exist or SNOWFLAKE_PERMUTE is on.
 */
export async function verifyIdSecret(config: AppConfig, dataSource: DataSource): Promise<Buffer | null> {
  const type = dataSource.options.type;
  const [{ n }] = await dataSource.query('SELECT COUNT(*) AS n FROM id_segment_meta WHERE public = 1');
  const publicKeys = Number(n);
  const secret = config.ID_SECRET;
  if (!secret) {
    if (config.SNOWFLAKE_PERMUTE) throw new StartupError('SNOWFLAKE_PERMUTE=true needs ID_SECRET (the same on every instance)');
    if (publicKeys > 0) throw new StartupError(`ID_SECRET is required: ${publicKeys} segment key(s) are public`);
    return null;
  }
  // TypeORM passes placeholders through: PostgreSQL's are numbered
  const insert =
    type === 'postgres'
      ? 'INSERT INTO id_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING'
      : `INSERT ${type === 'mysql' ? 'IGNORE' : 'OR IGNORE'} INTO id_meta (name, value) VALUES (?, ?)`;
  await dataSource.query(insert, [FINGERPRINT, secretFingerprint(secret)]);
  const [row] = await dataSource.query(`SELECT value FROM id_meta WHERE name = ${type === 'postgres' ? '$1' : '?'}`, [FINGERPRINT]);
  if (!fingerprintMatches(secret, String(row.value))) {
    throw new StartupError(
      'ID_SECRET is not the secret this database was first used with: a new secret would give public ids that may ' +
        'repeat ones already issued. Restore the old secret; to rotate, create new public keys under a new database.',
    );
  }
  return deriveFf1Key(secret);
}
