import { AppConfig, StartupError } from '@app/core';
import { deriveFf1Key, fingerprintMatches, secretFingerprint } from '@app/fpe';
import type { DataSource } from 'typeorm';
import { ID_META, IdMetaRow } from './entities/id-meta.entity';
import { SEGMENT_META, SegmentMetaRow } from './entities/segment.entities';

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
  const publicKeys = await dataSource.getRepository<SegmentMetaRow>(SEGMENT_META).countBy({ public: 1 });
  const secret = config.ID_SECRET;
  if (!secret) {
    if (config.SNOWFLAKE_PERMUTE) throw new StartupError('SNOWFLAKE_PERMUTE=true needs ID_SECRET (the same on every instance)');
    if (publicKeys > 0) throw new StartupError(`ID_SECRET is required: ${publicKeys} segment key(s) are public`);
    return null;
  }
  const meta = dataSource.getRepository<IdMetaRow>(ID_META);
  // the first secret's fingerprint stays: an instance starting together with another keeps theirs
  await meta.createQueryBuilder().insert().values({ name: FINGERPRINT, value: secretFingerprint(secret) }).orIgnore().execute();
  const row = await meta.findOneByOrFail({ name: FINGERPRINT });
  if (!fingerprintMatches(secret, row.value)) {
    throw new StartupError(
      'ID_SECRET is not the secret this database was first used with: a new secret would give public ids that may ' +
        'repeat ones already issued. Restore the old secret; to rotate, create new public keys under a new database.',
    );
  }
  return deriveFf1Key(secret);
}
