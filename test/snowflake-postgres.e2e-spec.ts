import { snowflakeScenarios } from './snowflake-scenarios';
import { Db, postgresDb } from './snowflake-support';
import { freshPgDatabase, pgAvailable, pgUnavailableReason } from './support/postgres';

if (!pgAvailable()) {
  it(`PostgreSQL snowflake tests did not run: ${pgUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy(); // on CI global-setup already failed the run
  });
} else {
  describe('snowflake on PostgreSQL, real processes on one database', () => {
    let fresh: Awaited<ReturnType<typeof freshPgDatabase>>;
    let db: Db;
    beforeAll(async () => {
      fresh = await freshPgDatabase('snowflake');
      db = postgresDb(fresh.url, fresh.name);
    });
    afterAll(async () => {
      await fresh?.drop();
    });

    snowflakeScenarios(() => db);
  });
}
