import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig, loadConfig } from '@app/core';

/** A validated config for tests: a fresh SQLite file unless DATABASE_URL is given. */
export function testConfig(env: Record<string, string> = {}): AppConfig {
  const dir = mkdtempSync(join(tmpdir(), 'idalloc-'));
  return loadConfig({
    env: { LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1', SQLITE_PATH: join(dir, 'ids.sqlite'), ...env },
  });
}
