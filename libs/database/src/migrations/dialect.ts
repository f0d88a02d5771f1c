import type { QueryRunner } from 'typeorm';

export type MigrationDialect = 'mysql' | 'postgres' | 'sqlite';

/** which DDL a migration writes: TypeORM's connection type, SQLite's two drivers as one */
export function dialectOf(q: QueryRunner): MigrationDialect {
  const type = q.connection.options.type;
  return type === 'mysql' || type === 'postgres' ? type : 'sqlite';
}
