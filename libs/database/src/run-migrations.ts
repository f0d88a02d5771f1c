import { DataSource } from 'typeorm';

const LOCK_NAME = 'id_allocator_migrations';
const LOCK_WAIT_S = 60;

/**
 * Runs pending migrations; on MySQL under a named lock so instances starting together apply each
 * migration once. SQLite serialises writers itself and the migrations are idempotent.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  if (dataSource.options.type !== 'mysql') {
    return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
  }
  const runner = dataSource.createQueryRunner();
  try {
    const [row] = await runner.query('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_WAIT_S]);
    if (String(row.got) !== '1') throw new Error(`could not take the migration lock within ${LOCK_WAIT_S}s`);
    try {
      return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
    } finally {
      await runner.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    await runner.release();
  }
}
