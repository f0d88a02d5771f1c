import { MysqlPool, MysqlQuery } from '@app/database';
import { changeToken, OwnFetches } from './change-watch';
import { newestPeriodKeySql, NOT_PERIOD_KEY, periodKeyPattern, setFormatSql } from './segment-format-sql';
import { ChangeMark, MAX_ID, NewSegmentKey, PublishedTarget, SegmentKeyPatch, SegmentKeyRow, SegmentStore, SkipTarget } from './segment-store';
import { SegmentTable, ColumnInfo } from './segment-table';
import {
  belowMark,
  exactKey,
  exactKeys,
  exhausted,
  KeyRecord,
  keyExists,
  likeEscape,
  selectKey,
  skipBackwards,
  skipPastMax,
  smallestStart,
  toKeyRow,
  unknownKey,
} from './segment-sql';

interface OkPacket {
  affectedRows: number;
  insertId: number | string;
}

/** the database's clock in ms: every instance's publications are judged by one clock */
const NOW_MS = 'CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)';
/** publications older than this are deleted by whoever publishes */
const TARGET_KEEP_MS = 3_600_000;

const KEY = exactKey('mysql');

/** in the transaction of every write the poll must see (see the migration of id_segment_change) */
const BUMP = 'UPDATE id_segment_change SET seq = seq + 1, token = token ^ ? WHERE id = 1';

/** The segment table's columns as information_schema describes them (none: no such table). */
export async function readMysqlSegmentTable(db: MysqlPool, name: string): Promise<SegmentTable> {
  const rows = await db.query<
    { name: string; type: string; max_length: string | number | null; nullable: string; col_default: string | null; extra: string }[]
  >(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS type, CHARACTER_MAXIMUM_LENGTH AS max_length, IS_NULLABLE AS nullable,
            COLUMN_DEFAULT AS col_default, EXTRA AS extra
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [name],
  );
  const columns: ColumnInfo[] = rows.map((r) => ({
    name: r.name,
    type: r.type,
    maxLength: r.max_length === null ? null : Number(r.max_length),
    nullable: r.nullable === 'YES',
    hasDefault: r.col_default !== null || /auto_increment|generated/i.test(r.extra),
  }));
  return SegmentTable.fromColumns(name, columns);
}

/**
 * The segment table (SEGMENT_TABLE) on MySQL/MariaDB. The fetch is one statement:
 * LAST_INSERT_ID(expr) makes the new max_id the OK packet's insertId, so no second round trip
 * (and no stale LAST_INSERT_ID from another pooled connection). Keys compare in binary.
 *
 * Every integer reaches SQL exact: bound as a BigInt, which mysql2 writes as bare digits. A
 * decimal string in arithmetic or a comparison with a BIGINT makes MariaDB compute in floating
 * point (2^53 + 1 + '1' = 2^53), and a JS number above 2^53 is already rounded.
 */
export class MysqlSegmentStore implements SegmentStore {
  private readonly fetchSql: string;
  private readonly selectSql: string;
  /**
   * Galera applies other nodes' commits asynchronously: a plain read may miss a fetch this very
   * instance committed through another node a moment ago, and the poll would take that for a
   * rollback. wsrep_sync_wait=1 makes the poll's read wait for them; a server without the
   * variable (not MariaDB) reads without it.
   */
  private causalRead = 'SET STATEMENT wsrep_sync_wait = 1 FOR ';
  private readonly own = new OwnFetches();

  constructor(
    private readonly db: MysqlPool,
    readonly table: SegmentTable = SegmentTable.ours(),
  ) {
    // One statement still: the change row is updated by the same multi-table UPDATE, so a fetch
    // and its bump commit (or are lost) together. Two rows change: the key's and the change row.
    this.fetchSql = `UPDATE ${table.sql} a, id_segment_change c
        SET a.max_id = LAST_INSERT_ID(a.max_id + ?), a.update_time = CURRENT_TIMESTAMP, c.seq = c.seq + 1, c.token = c.token ^ ?
        WHERE a.biz_tag = ${KEY} AND a.max_id <= ${MAX_ID} - ? AND c.id = 1`;
    this.selectSql = selectKey(table, 'mysql');
  }

  async fetch(key: string, step: number): Promise<bigint> {
    const s = BigInt(step);
    // sent again after an unknown outcome (failover): a range that did commit is skipped, a gap, never a repeat
    const token = changeToken();
    const ok = await this.db.query<OkPacket>(this.fetchSql, [s, token, key, s], { retryUnknown: true });
    if (ok.affectedRows === 2) {
      this.own.add(token);
      return BigInt(String(ok.insertId));
    }
    throw (await this.find(key)) === null ? unknownKey(key) : exhausted(key, step);
  }

  async find(key: string): Promise<SegmentKeyRow | null> {
    return this.findWith((sql, values) => this.db.query(sql, values), key);
  }

  private async findWith(query: MysqlQuery, key: string): Promise<SegmentKeyRow | null> {
    const rows = await query<KeyRecord[]>(`${this.selectSql} WHERE a.biz_tag = ${KEY}`, [key]);
    return rows.length === 0 ? null : toKeyRow(rows[0]);
  }

  async findMany(keys: string[]): Promise<SegmentKeyRow[]> {
    if (keys.length === 0) return [];
    const sql = `${this.selectSql} WHERE a.biz_tag IN (${exactKeys('mysql', keys.length)})`;
    return (await this.readCausally<KeyRecord[]>(sql, keys)).map(toKeyRow);
  }

  /** a poll's read, after every commit this instance made through any Galera node */
  private async readCausally<T>(sql: string, values: unknown[] = []): Promise<T> {
    try {
      return await this.db.query<T>(this.causalRead + sql, values);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (this.causalRead === '' || (code !== 'ER_UNKNOWN_SYSTEM_VARIABLE' && code !== 'ER_PARSE_ERROR')) throw e;
      this.causalRead = '';
      return this.db.query<T>(sql, values);
    }
  }

  async readChanges(): Promise<ChangeMark> {
    const rows = await this.readCausally<{ seq: string; token: string }[]>(
      'SELECT CAST(seq AS CHAR) AS seq, CAST(token AS CHAR) AS token FROM id_segment_change WHERE id = 1',
    );
    if (rows.length === 0) throw new Error('id_segment_change has no row 1: run the migrations (or INSERT INTO id_segment_change VALUES (1, 0, 0))');
    return { seq: BigInt(rows[0].seq), token: BigInt(rows[0].token) };
  }

  ownFetches(): ChangeMark {
    return this.own.mark;
  }

  async listPage(after: string | null, limit: number, prefix: string | null): Promise<SegmentKeyRow[]> {
    const where: string[] = [NOT_PERIOD_KEY];
    const values: unknown[] = [];
    if (after !== null) where.push(`CAST(a.biz_tag AS BINARY) > ${KEY}`) && values.push(after);
    if (prefix !== null) where.push(`CAST(a.biz_tag AS BINARY) LIKE CAST(? AS BINARY)`) && values.push(`${likeEscape(prefix)}%`);
    const sql = `${this.selectSql} WHERE ${where.join(' AND ')} ORDER BY CAST(a.biz_tag AS BINARY) LIMIT ?`;
    return (await this.db.query<KeyRecord[]>(sql, [...values, limit])).map(toKeyRow);
  }

  async newestPeriodKey(base: string): Promise<string | null> {
    const rows = await this.db.query<{ k: Buffer | string | null }[]>(newestPeriodKeySql(this.table, 'mysql'), [periodKeyPattern('mysql', base)]);
    const k = rows[0]?.k ?? null;
    return k === null ? null : k.toString();
  }

  async list(): Promise<SegmentKeyRow[]> {
    const rows = await this.db.query<KeyRecord[]>(`${this.selectSql} WHERE ${NOT_PERIOD_KEY} ORDER BY a.biz_tag`);
    return rows.map(toKeyRow);
  }

  create(row: NewSegmentKey): Promise<SegmentKeyRow> {
    return this.db.transaction(async (query) => {
      const marks = await query<{ high_water: string }[]>(
        'SELECT CAST(high_water AS CHAR) AS high_water FROM id_segment_meta WHERE biz_tag = ? FOR UPDATE',
        [row.key],
      );
      const smallest = smallestStart(BigInt(marks[0]?.high_water ?? '0'), row.markMargin);
      if (row.startId < smallest) {
        throw (await this.findWith(query, row.key)) === null ? belowMark(row.key, smallest) : keyExists(row.key);
      }
      try {
        const t = this.table;
        const blanks = t.blankColumns.map((c) => `, \`${c}\``).join('');
        await query(
          `INSERT INTO ${t.sql} (biz_tag, max_id, step, ${t.descriptionSql}, update_time${blanks})
             VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP${t.blankColumns.map(() => ", ''").join('')})`,
          [row.key, row.startId, BigInt(row.step), t.description(row.description)],
        );
      } catch (e) {
        if ((e as { code?: string }).code === 'ER_DUP_ENTRY') throw keyExists(row.key);
        throw e;
      }
      await query(
        'INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON DUPLICATE KEY UPDATE public = VALUES(public)',
        [row.key, row.public ? 1 : 0],
      );
      if (row.format != null) await query(setFormatSql('mysql'), [row.key, row.format]);
      await query(BUMP, [changeToken()]);
      return (await this.findWith(query, row.key))!;
    });
  }

  update(key: string, patch: SegmentKeyPatch): Promise<SegmentKeyRow | null> {
    // one transaction with the bump: a change committed without it would stay unseen by idle polls
    return this.db.transaction(async (query) => {
      const sets: string[] = [];
      const values: unknown[] = [];
      if (patch.step !== undefined) sets.push('step = ?') && values.push(BigInt(patch.step));
      if (patch.description !== undefined) sets.push(`${this.table.descriptionSql} = ?`) && values.push(this.table.description(patch.description));
      if (sets.length > 0) {
        const ok = await query<OkPacket>(`UPDATE ${this.table.sql} SET ${sets.join(', ')} WHERE biz_tag = ${KEY}`, [...values, key]);
        if (ok.affectedRows === 0) return null;
      }
      if (patch.public !== undefined) {
        await query(
          'INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON DUPLICATE KEY UPDATE public = VALUES(public)',
          [key, patch.public ? 1 : 0],
        );
      }
      if (patch.format !== undefined) await query(setFormatSql('mysql'), [key, patch.format]);
      await query(BUMP, [changeToken()]);
      return this.findWith(query, key);
    });
  }

  skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null> {
    return this.db.transaction(async (query) => {
      const ok =
        'by' in target
          ? await query<OkPacket>(`UPDATE ${this.table.sql} SET max_id = max_id + ? WHERE biz_tag = ${KEY} AND max_id <= ${MAX_ID} - ?`, [
              target.by,
              key,
              target.by,
            ])
          : await query<OkPacket>(`UPDATE ${this.table.sql} SET max_id = ? WHERE biz_tag = ${KEY} AND max_id < ?`, [target.to, key, target.to]);
      if (ok.affectedRows === 0) {
        const row = await this.findWith(query, key);
        if (row === null) return null;
        throw 'by' in target ? skipPastMax(key) : skipBackwards(key, row.maxId, target.to);
      }
      // in the same transaction: a moved max_id whose skip counter did not move would never make
      // the other instances drop what they hold
      await query(
        `INSERT INTO id_segment_meta (biz_tag, skip_seq, high_water) SELECT biz_tag, 1, max_id FROM ${this.table.sql} WHERE biz_tag = ${KEY}
           ON DUPLICATE KEY UPDATE skip_seq = id_segment_meta.skip_seq + 1,
             high_water = GREATEST(id_segment_meta.high_water, VALUES(high_water))`,
        [key],
      );
      await query(BUMP, [changeToken()]);
      return this.findWith(query, key);
    });
  }

  async raiseMarks(marks: { key: string; highWater: bigint }[]): Promise<void> {
    if (marks.length === 0) return;
    await this.db.query(
      `INSERT INTO id_segment_meta (biz_tag, high_water) VALUES ?
         ON DUPLICATE KEY UPDATE high_water = GREATEST(high_water, VALUES(high_water))`,
      [marks.map((m) => [m.key, m.highWater])],
      { retryUnknown: true }, // only ever raises: a repeat changes nothing
    );
  }

  async publishTargets(instanceId: string, targets: PublishedTarget[]): Promise<void> {
    if (targets.length === 0) return;
    await this.db.query(
      `INSERT INTO id_segment_halt (instance_id, biz_tag, min_target, seen_at) VALUES ${targets.map(() => `(?, ?, ?, ${NOW_MS})`).join(', ')}
         ON DUPLICATE KEY UPDATE min_target = VALUES(min_target), seen_at = VALUES(seen_at)`,
      targets.flatMap((t) => [instanceId, t.key, t.target]),
      { retryUnknown: true }, // an upsert of this instance's own rows: a repeat changes nothing
    );
    await this.db.query(`DELETE FROM id_segment_halt WHERE seen_at < ${NOW_MS} - ?`, [BigInt(TARGET_KEEP_MS)], { retryUnknown: true });
  }

  async haltedPeriodKeys(withinMs: number): Promise<string[]> {
    const rows = await this.db.query<{ biz_tag: string }[]>(
      `SELECT DISTINCT biz_tag FROM id_segment_halt WHERE biz_tag LIKE '%~%' AND seen_at >= ${NOW_MS} - ? ORDER BY biz_tag`,
      [BigInt(withinMs)],
    );
    return rows.map((r) => r.biz_tag);
  }

  async requiredTargets(keys: string[], withinMs: number): Promise<Map<string, bigint>> {
    const found = new Map<string, bigint>();
    if (keys.length === 0) return found;
    const rows = await this.db.query<{ biz_tag: string; target: string }[]>(
      `SELECT biz_tag, CAST(MAX(min_target) AS CHAR) AS target FROM id_segment_halt
        WHERE biz_tag IN (?) AND seen_at >= ${NOW_MS} - ? GROUP BY biz_tag`,
      [keys, BigInt(withinMs)],
    );
    for (const r of rows) found.set(r.biz_tag, BigInt(r.target));
    return found;
  }
}
