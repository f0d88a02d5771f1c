import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { snowflakeScenarios } from './snowflake-scenarios';
import { Db, sqliteDb } from './snowflake-support';

describe('snowflake on SQLite, real processes sharing one file', () => {
  let db: Db;
  beforeAll(() => {
    db = sqliteDb(join(mkdtempSync(join(tmpdir(), 'idalloc-sf-')), 'ids.sqlite'));
  });
  snowflakeScenarios(() => db);
});
