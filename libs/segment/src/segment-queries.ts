import { SEGMENT_HALT, SEGMENT_META, SqlDialect } from '@app/database';
import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import { NOT_PERIOD_KEY } from './segment-format-sql';
import { asText, exactColumn, exactKey, KeyRecord, likeEscape } from './segment-sql';
import type { PublishedTarget } from './segment-store';
import type { SegmentTable } from './segment-table';

/*
 * The segment strategy's statements on MySQL/MariaDB and PostgreSQL whose atomicity is not the
 * guarantee (admin reads and writes of id_segment_meta, listing and paging, the poll's read, the
 * halt targets), through TypeORM's query builder over the entities. What stays hand-written (the
 * one-statement fetch, a skip's conditional UPDATE, the change row's bump, raising the high-water
 * marks with GREATEST) is in server-segment-store.ts, written once per dialect.
 */

/** the database's clock in ms: every instance's publications are judged by one clock */
export function dbNowMs(dialect: SqlDialect): string {
  return dialect === 'mysql' ? 'CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)' : 'CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS bigint)';
}

/** a key bound as the named parameter `name`, compared byte for byte (exactKey) */
export function exactKeyParam(dialect: SqlDialect, name: string): string {
  return exactKey(dialect).replace('?', `:${name}`);
}

/** a BigInt bound exactly: digits, never a rounded number (PostgreSQL reads them into a bigint column or CAST) */
const exact = (value: bigint) => value.toString();

/**
 * The segment table joined with id_segment_meta: the columns every read of a key selects
 * (selectKey's, toKeyRow reads them). The segment table is named, not an entity: a table another
 * service made (Leaf's, go-id-alloc's) has its own description column.
 */
export function keySelect(manager: EntityManager, table: SegmentTable, dialect: SqlDialect): SelectQueryBuilder<KeyRecord> {
  return manager
    .createQueryBuilder()
    .select('a.biz_tag', 'biz_tag')
    .addSelect(asText(dialect, 'a.max_id'), 'max_id')
    .addSelect('a.step', 'step')
    .addSelect(`a.${table.descriptionSql}`, 'description')
    .addSelect('a.update_time', 'update_time')
    .addSelect('COALESCE(m.public, 0)', 'public')
    .addSelect('COALESCE(m.skip_seq, 0)', 'skip_seq')
    .addSelect(asText(dialect, 'COALESCE(m.high_water, 0)'), 'high_water')
    .addSelect('m.format', 'format')
    .addSelect('CASE WHEN m.biz_tag IS NULL THEN 0 ELSE 1 END', 'meta_row')
    .from(table.name, 'a')
    .leftJoin(SEGMENT_META, 'm', `m.biz_tag = ${exactColumn(dialect, 'a.biz_tag')}`) as SelectQueryBuilder<KeyRecord>;
}

/** one key, exactly */
export function oneKey(manager: EntityManager, table: SegmentTable, dialect: SqlDialect, key: string): SelectQueryBuilder<KeyRecord> {
  return keySelect(manager, table, dialect).where(`a.biz_tag = ${exactKeyParam(dialect, 'key')}`, { key });
}

/** the poll's read: these keys, each compared exactly */
export function someKeys(manager: EntityManager, table: SegmentTable, dialect: SqlDialect, keys: string[]): SelectQueryBuilder<KeyRecord> {
  const names = keys.map((_, i) => `k${i}`);
  return keySelect(manager, table, dialect).where(
    `a.biz_tag IN (${names.map((n) => exactKeyParam(dialect, n)).join(', ')})`,
    Object.fromEntries(keys.map((k, i) => [names[i], k])),
  );
}

/** a page of the admin listing: keys after `after` (byte order), those starting with `prefix`, period keys left out */
export function keyPage(
  manager: EntityManager,
  table: SegmentTable,
  dialect: SqlDialect,
  page: { after: string | null; prefix: string | null; limit?: number },
): SelectQueryBuilder<KeyRecord> {
  const column = exactColumn(dialect, 'a.biz_tag');
  const q = keySelect(manager, table, dialect).where(NOT_PERIOD_KEY);
  if (page.after !== null) q.andWhere(`${column} > ${exactKeyParam(dialect, 'after')}`, { after: page.after });
  if (page.prefix !== null) {
    q.andWhere(`${column} LIKE ${dialect === 'mysql' ? 'CAST(:pattern AS BINARY)' : exactKeyParam(dialect, 'pattern')}`, {
      pattern: `${likeEscape(page.prefix)}%`,
    });
  }
  // MySQL sorts the whole listing by the key's own collation (as before), a page in byte order
  q.orderBy(dialect === 'mysql' && page.limit === undefined ? 'a.biz_tag' : column);
  if (page.limit !== undefined) q.limit(page.limit);
  return q;
}

/** id_segment_meta's flag or format of one key, inserted or updated (in the caller's transaction, with the bump) */
export async function upsertMeta(manager: EntityManager, key: string, values: { public: number } | { format: string | null }): Promise<void> {
  await manager
    .createQueryBuilder()
    .insert()
    .into(SEGMENT_META, ['bizTag', ...Object.keys(values)])
    .values({ bizTag: key, ...values })
    .orUpdate(Object.keys(values), ['biz_tag'])
    .updateEntity(false)
    .execute();
}

/** publications older than this are deleted by whoever publishes */
const TARGET_KEEP_MS = 3_600_000n;

/** this instance's skip targets, upserted with the database's clock; old publications (anyone's) deleted */
export async function publishTargets(manager: EntityManager, dialect: SqlDialect, instanceId: string, targets: PublishedTarget[]): Promise<void> {
  const now = dbNowMs(dialect);
  await manager
    .createQueryBuilder()
    .insert()
    .into(SEGMENT_HALT, ['instanceId', 'bizTag', 'minTarget', 'seenAt'])
    .values(targets.map((t) => ({ instanceId, bizTag: t.key, minTarget: exact(t.target), seenAt: () => now })))
    .orUpdate(['min_target', 'seen_at'], ['instance_id', 'biz_tag'])
    .updateEntity(false)
    .execute();
  await manager
    .createQueryBuilder()
    .delete()
    .from(SEGMENT_HALT)
    .where(`seen_at < ${now} - CAST(:keep AS ${dialect === 'mysql' ? 'SIGNED' : 'bigint'})`, { keep: exact(TARGET_KEEP_MS) })
    .execute();
}

/** publications made within the last withinMs (database clock) */
function freshTargets(manager: EntityManager, dialect: SqlDialect, withinMs: number) {
  return manager
    .getRepository(SEGMENT_HALT)
    .createQueryBuilder('h')
    .where(`h.seen_at >= ${dbNowMs(dialect)} - CAST(:within AS ${dialect === 'mysql' ? 'SIGNED' : 'bigint'})`, { within: String(withinMs) });
}

/** period keys halted somewhere: a target published within withinMs */
export async function haltedPeriodKeys(manager: EntityManager, dialect: SqlDialect, withinMs: number): Promise<string[]> {
  const rows = await freshTargets(manager, dialect, withinMs)
    .select('h.biz_tag', 'biz_tag')
    .distinct(true)
    .andWhere("h.biz_tag LIKE '%~%'")
    .orderBy('h.biz_tag')
    .getRawMany<{ biz_tag: string }>();
  return rows.map((r) => r.biz_tag);
}

/** the largest fresh target per key */
export async function requiredTargets(manager: EntityManager, dialect: SqlDialect, keys: string[], withinMs: number): Promise<Map<string, bigint>> {
  const rows = await freshTargets(manager, dialect, withinMs)
    .select('h.biz_tag', 'biz_tag')
    .addSelect(asText(dialect, 'MAX(h.min_target)'), 'target')
    .andWhere('h.biz_tag IN (:...keys)', { keys })
    .groupBy('h.biz_tag')
    .getRawMany<{ biz_tag: string; target: string }>();
  return new Map(rows.map((r) => [r.biz_tag, BigInt(r.target)]));
}
