import { IdError, isIdError } from '@app/core';
import { SqlPool } from '@app/database';
import type { EntityManager } from 'typeorm';
import { changeToken, OwnFetches } from './change-watch';
import { newestPeriodKeySql, periodKeyPattern } from './segment-format-sql';
import * as q from './segment-queries';
import { ChangeMark, FetchOutcome, FetchRequest, MAX_ID, NewSegmentKey, PublishedTarget, SegmentKeyPatch, SegmentKeyRow, SegmentStore, SkipTarget } from './segment-store';
import { SegmentTable, ColumnInfo } from './segment-table';
import {
  asText,
  belowMark,
  exactColumn,
  exactKey,
  exactKeys,
  exhausted,
  KeyRecord,
  keyExists,
  skipBackwards,
  skipPastMax,
  smallestStart,
  toKeyRow,
  unknownKey,
} from './segment-sql';

interface Changed {
  affectedRows: number;
  /** MySQL only */
  insertId?: number | string;
}

/**
 * The hand-written statements that differ between MySQL/MariaDB and PostgreSQL, side by side; what
 * both share is written once in the store below (`?` placeholders on both: PgPool numbers them).
 * The rest (reads, listing, id_segment_meta's flags, halt targets) is the query builder's, in
 * segment-queries.ts.
 */
interface ServerSql {
  dialect: 'mysql' | 'postgres';
  /** in the transaction of every write the poll must see (see the migration of id_segment_change) */
  bump: string;
  duplicateKey: string;
  /** id_segment_meta after a skip: skip_seq + 1, high_water raised to the new max_id */
  upsertSkipped: (table: string, key: string) => string;
  /** raise high_water for n keys */
  raiseMarks: (n: number) => string;
}

const MYSQL: ServerSql = {
  dialect: 'mysql',
  bump: 'UPDATE id_segment_change SET seq = seq + 1, token = token ^ ? WHERE id = 1',
  duplicateKey: 'ER_DUP_ENTRY',
  upsertSkipped: (table, key) =>
    `INSERT INTO id_segment_meta (biz_tag, skip_seq, high_water) SELECT biz_tag, 1, max_id FROM ${table} WHERE biz_tag = ${key}
       ON DUPLICATE KEY UPDATE skip_seq = id_segment_meta.skip_seq + 1,
         high_water = GREATEST(id_segment_meta.high_water, VALUES(high_water))`,
  raiseMarks: (n) =>
    `INSERT INTO id_segment_meta (biz_tag, high_water) VALUES ${Array(n).fill('(?, ?)').join(', ')}
       ON DUPLICATE KEY UPDATE high_water = GREATEST(high_water, VALUES(high_water))`,
};

const POSTGRES: ServerSql = {
  dialect: 'postgres',
  bump: 'UPDATE id_segment_change SET seq = seq + 1, token = token # ? WHERE id = 1',
  duplicateKey: '23505',
  upsertSkipped: (table, key) =>
    `INSERT INTO id_segment_meta (biz_tag, skip_seq, high_water) SELECT biz_tag, 1, max_id FROM ${table} WHERE biz_tag = ${key}
       ON CONFLICT (biz_tag) DO UPDATE SET skip_seq = id_segment_meta.skip_seq + 1,
         high_water = GREATEST(id_segment_meta.high_water, EXCLUDED.high_water)`,
  raiseMarks: (n) =>
    `INSERT INTO id_segment_meta (biz_tag, high_water) VALUES ${Array(n).fill('(?, CAST(? AS bigint))').join(', ')}
       ON CONFLICT (biz_tag) DO UPDATE SET high_water = GREATEST(id_segment_meta.high_water, EXCLUDED.high_water)`,
};

/** a deadlock or a lock wait given up: the statement (and a transaction) rolled back, nothing kept */
function isRolledBack(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT' || (e as { errno?: number }).errno === 1213;
}

/** The segment table's columns as information_schema describes them (none: no such table). */
export async function readServerSegmentTable(db: SqlPool, name: string): Promise<SegmentTable> {
  const sql =
    db.dialect === 'mysql'
      ? `SELECT COLUMN_NAME AS name, DATA_TYPE AS type, CHARACTER_MAXIMUM_LENGTH AS max_length, IS_NULLABLE AS nullable,
                COLUMN_DEFAULT AS col_default, EXTRA AS extra
           FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`
      : `SELECT column_name AS name, data_type AS type, character_maximum_length AS max_length, is_nullable AS nullable,
                column_default AS col_default, CASE WHEN is_identity = 'YES' OR is_generated <> 'NEVER' THEN 'generated' ELSE '' END AS extra
           FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`;
  const rows = await db.query<
    { name: string; type: string; max_length: string | number | null; nullable: string; col_default: string | null; extra: string }[]
  >(sql, [name]);
  const columns: ColumnInfo[] = rows.map((r) => ({
    name: r.name,
    type: r.type,
    maxLength: r.max_length === null ? null : Number(r.max_length),
    nullable: r.nullable === 'YES',
    hasDefault: r.col_default !== null || /auto_increment|generated/i.test(r.extra),
  }));
  return SegmentTable.fromColumns(name, columns, db.dialect === 'postgres' ? 'double' : 'backtick');
}

/**
 * The segment table (SEGMENT_TABLE) on MySQL/MariaDB or PostgreSQL. The fetch is one statement
 * that also bumps the change row and raises the key's high-water mark, so a fetch, its bump and
 * its mark commit (or are lost) together:
 * - MySQL: a multi-table UPDATE; LAST_INSERT_ID(expr) makes the new max_id the OK packet's
 *   insertId (no second round trip, no stale LAST_INSERT_ID from another pooled connection);
 * - PostgreSQL: `UPDATE ... RETURNING max_id` with the change row's and the mark's UPDATEs in
 *   data-modifying WITHs beside it (each only when the key's row was updated).
 * The mark (id_segment_meta.high_water) is raised only where the key has a meta row: a key made
 * by hand or by an older version has none until the poll's raiseMarks writes one. A key deleted
 * by hand and created again then starts above every range fetched, not only above what the last
 * poll saw (a first fetch and its preload, or several instances' fetches, move further in one
 * poll period).
 * Keys compare byte for byte (binary on MySQL, COLLATE "C" on PostgreSQL).
 *
 * Every integer reaches SQL exact: bound as a BigInt (mysql2 writes bare digits; PgPool a decimal
 * string the server reads as bigint). A decimal string in arithmetic or a comparison with a BIGINT
 * makes MariaDB compute in floating point (2^53 + 1 + '1' = 2^53), and a JS number above 2^53 is
 * already rounded.
 */
export class ServerSegmentStore implements SegmentStore {
  private readonly fetchSql: string;
  private readonly sql: ServerSql;
  private readonly key: string;
  /**
   * Galera applies other nodes' commits asynchronously: a plain read may miss a fetch this very
   * instance committed through another node a moment ago, and the poll would take that for a
   * rollback. wsrep_sync_wait=1 makes the poll's read wait for them; a server without the
   * variable (not MariaDB, PostgreSQL) reads without it.
   */
  private causalRead: string;
  private readonly own = new OwnFetches();
  private readonly someKeysText = new Map<number, string>();

  constructor(
    private readonly db: SqlPool,
    readonly table: SegmentTable = SegmentTable.ours('leaf_alloc', db.dialect === 'postgres' ? 'double' : 'backtick'),
  ) {
    this.sql = db.dialect === 'postgres' ? POSTGRES : MYSQL;
    this.key = exactKey(db.dialect);
    this.causalRead = db.dialect === 'mysql' ? 'SET STATEMENT wsrep_sync_wait = 1 FOR ' : '';
    this.fetchSql =
      db.dialect === 'mysql'
        ? // MySQL does not order the assignments of a multi-table UPDATE: m's may read a.max_id
          // before or after a's. LEAST(a.max_id, MAX - step) + step is the new max_id read before,
          // and one step above it (or 2^63-1) read after: the mark is at least the new max_id
          // either way, never out of range, whatever SEGMENT_STEP_MAX (the margin) is.
          `UPDATE ${table.sql} a JOIN id_segment_change c ON c.id = 1 LEFT JOIN id_segment_meta m ON m.biz_tag = ?
             SET a.max_id = LAST_INSERT_ID(a.max_id + ?), a.update_time = CURRENT_TIMESTAMP, c.seq = c.seq + 1, c.token = c.token ^ ?,
                 m.high_water = GREATEST(m.high_water, LEAST(a.max_id, ${MAX_ID} - ?) + ?)
             WHERE a.biz_tag = ${this.key} AND a.max_id <= ${MAX_ID} - ?`
        : `WITH a AS (UPDATE ${table.sql} SET max_id = max_id + CAST(? AS bigint), update_time = CURRENT_TIMESTAMP
                        WHERE biz_tag = ${this.key} AND max_id <= ${MAX_ID} - CAST(? AS bigint) RETURNING biz_tag, max_id),
                c AS (UPDATE id_segment_change SET seq = seq + 1, token = token # CAST(? AS bigint)
                        WHERE id = 1 AND EXISTS (SELECT 1 FROM a) RETURNING id),
                h AS (UPDATE id_segment_meta m SET high_water = GREATEST(m.high_water, a.max_id) FROM a
                        WHERE m.biz_tag = a.biz_tag COLLATE "C")
           SELECT a.max_id AS max_id, (SELECT COUNT(*) FROM c) AS bumped FROM a`;
  }

  async fetch(key: string, step: number): Promise<bigint> {
    const s = BigInt(step);
    // sent again after an unknown outcome (failover): a range that did commit is skipped, a gap, never a repeat
    const token = changeToken();
    if (this.db.dialect === 'mysql') {
      const ok = await this.db.query<Changed>(this.fetchSql, [key, s, token, s, s, key, s], { retryUnknown: true });
      // the key's row and the change row, and its meta row if it has one
      if (ok.affectedRows >= 2) {
        this.own.add(token);
        return BigInt(String(ok.insertId));
      }
    } else {
      const rows = await this.db.query<{ max_id: string; bumped: string }[]>(this.fetchSql, [s, key, s, token], { retryUnknown: true });
      if (rows.length === 1 && rows[0].bumped === '1') {
        this.own.add(token);
        return BigInt(rows[0].max_id);
      }
    }
    throw (await this.find(key)) === null ? unknownKey(key) : exhausted(key, step);
  }

  /**
   * First fetches of many keys, one atomic write for all, bumping the change row once:
   * - MySQL: one transaction: the rows locked (SELECT ... FOR UPDATE), then one multi-table
   *   UPDATE setting each key's new max_id (CASE, computed exactly from the locked value) and
   *   bumping the change row in the same statement, then the keys' marks raised to those
   *   max_ids. MySQL's UPDATE returns no rows; under the lock the value read is the value
   *   updated. A deadlock or a Galera certification failure rolls back all of it: sent again, a
   *   few times.
   * - PostgreSQL: one statement, UPDATE ... FROM (VALUES ...) RETURNING beside the change row's
   *   and the marks' UPDATEs, as the single fetch.
   * Keys not updated (unknown, or the step would pass 2^63-1) are told apart by one read.
   */
  async fetchMany(requests: FetchRequest[]): Promise<FetchOutcome[]> {
    if (requests.length === 0) return [];
    const seen = this.db.dialect === 'mysql' ? await this.fetchSeenMysql(requests) : { got: new Map<string, bigint>(), rest: requests };
    if (seen.rest.length === 0) return requests.map((r) => seen.got.get(r.key)!);
    const token = changeToken();
    const locked = this.db.dialect === 'mysql' ? await this.fetchManyMysql(seen.rest, token) : await this.fetchManyPostgres(seen.rest, token);
    if (locked.size > 0) this.own.add(token);
    const got = seen.got.size === 0 ? locked : new Map([...seen.got, ...locked]);
    const missing = requests.filter((r) => !got.has(r.key));
    const present = missing.length === 0 ? new Set<string>() : new Set((await this.findMany(missing.map((r) => r.key))).map((r) => r.key));
    return requests.map((r) => got.get(r.key) ?? (present.has(r.key) ? exhausted(r.key, r.step) : unknownKey(r.key)));
  }

  /**
   * First fetches of keys just looked up, on MySQL, without the locked transaction's five round
   * trips: per step, one autocommit statement that moves each key's row by the step only if it
   * still reads what the lookup read (`max_id`, and whether it has a meta row), bumps the change
   * row and raises the marks, as the single fetch does (the mark may read one step high, as
   * there). With FOUND_ROWS (set for our connections) the answer counts the rows matched: each
   * key's row, its meta row where it has one (pinned by the condition), and the change row once.
   * Only when every key matched is that count reached (a key that did not match takes at least
   * one row off it, nothing adds one): then every range is the lookup's max_id + step, this
   * caller's. Otherwise those keys are left to the locked fetch, and the ones that did match lose
   * their ranges (a gap). Keys whose lookup leaves no room for the step go there too (their
   * refusal is that fetch's to tell).
   */
  private async fetchSeenMysql(requests: FetchRequest[]): Promise<{ got: Map<string, bigint>; rest: FetchRequest[] }> {
    const got = new Map<string, bigint>();
    const rest: FetchRequest[] = [];
    const bySteps = new Map<number, FetchRequest[]>();
    for (const r of requests) {
      if (r.seen === undefined || BigInt(r.seen.maxId) > MAX_ID - BigInt(r.step)) rest.push(r);
      else bySteps.get(r.step)?.push(r) ?? bySteps.set(r.step, [r]);
    }
    for (const [step, group] of bySteps) {
      if (await this.compareAndFetch(step, group)) group.forEach((r) => got.set(r.key, BigInt(r.seen!.maxId) + BigInt(step)));
      else rest.push(...group);
    }
    return { got, rest };
  }

  /** one step's keys by compare-and-set (fetchSeenMysql): whether every one matched */
  private async compareAndFetch(step: number, group: FetchRequest[]): Promise<boolean> {
    const s = BigInt(step);
    const token = changeToken();
    const keys = group.map((r) => r.key);
    let ok: Changed;
    try {
      ok = await this.db.query<Changed>(
        `UPDATE ${this.table.sql} a JOIN id_segment_change c ON c.id = 1
           LEFT JOIN id_segment_meta m ON m.biz_tag IN (${keys.map(() => '?').join(', ')}) AND m.biz_tag = ${exactColumn('mysql', 'a.biz_tag')}
           SET a.max_id = a.max_id + ?, a.update_time = CURRENT_TIMESTAMP, c.seq = c.seq + 1, c.token = c.token ^ ?,
               m.high_water = GREATEST(m.high_water, LEAST(a.max_id, ${MAX_ID} - ?) + ?)
           WHERE a.biz_tag IN (${exactKeys('mysql', keys.length)})
             AND (${exactColumn('mysql', 'a.biz_tag')}, a.max_id, m.biz_tag IS NOT NULL) IN (${keys.map(() => `(${this.key}, ?, ?)`).join(', ')})`,
        [...keys, s, token, s, s, ...keys, ...group.flatMap((r) => [r.key, BigInt(r.seen!.maxId), r.seen!.metaRow ? 1 : 0])],
        { retryUnknown: true }, // sent again after an unknown outcome: if the first committed, nothing matches now
      );
    } catch (e) {
      if (isRolledBack(e)) return false; // a deadlock: nothing kept, the locked fetch tries again
      throw e;
    }
    // rows matched: the statement committed with the change row's bump, this process's own
    if (ok.affectedRows > 0) this.own.add(token);
    return ok.affectedRows === group.length + group.filter((r) => r.seen!.metaRow).length + 1;
  }

  private async fetchManyMysql(requests: FetchRequest[], token: bigint): Promise<Map<string, bigint>> {
    const d = this.db.dialect;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction(async (query) => {
          // in key order: two batches lock their rows in one order
          const rows = await query<{ biz_tag: string | Buffer; max_id: string }[]>(
            `SELECT ${exactColumn(d, 'biz_tag')} AS biz_tag, ${asText(d, 'max_id')} AS max_id FROM ${this.table.sql}
               WHERE biz_tag IN (${exactKeys(d, requests.length)}) ORDER BY biz_tag FOR UPDATE`,
            requests.map((r) => r.key),
          );
          const steps = new Map(requests.map((r) => [r.key, BigInt(r.step)]));
          const got = new Map<string, bigint>();
          for (const row of rows) {
            const key = row.biz_tag.toString();
            const step = steps.get(key);
            const maxId = BigInt(row.max_id);
            if (step !== undefined && maxId <= MAX_ID - step) got.set(key, maxId + step);
          }
          if (got.size === 0) return got;
          const cases = [...got].map(() => `WHEN ${this.key} THEN ?`).join(' ');
          const ok = await query<Changed>(
            `UPDATE ${this.table.sql} a, id_segment_change c
               SET a.max_id = CASE CAST(a.biz_tag AS BINARY) ${cases} END, a.update_time = CURRENT_TIMESTAMP,
                   c.seq = c.seq + 1, c.token = c.token ^ ?
               WHERE a.biz_tag IN (${exactKeys(d, got.size)}) AND c.id = 1`,
            [...[...got].flatMap(([key, maxId]) => [key, maxId]), token, ...got.keys()],
          );
          // every locked row and the change row: anything else and nothing is kept
          if (ok.affectedRows !== got.size + 1) throw new Error(`batched fetch changed ${ok.affectedRows} rows, expected ${got.size + 1}`);
          // the marks, in the same transaction (a statement of their own: the check above stays
          // exact); the new max_ids are known exactly under the lock; keys without a meta row
          // are left to the poll. id_segment_meta's keys are utf8mb4_bin: compared exactly, by
          // the primary key, as raiseMarks does.
          await query(
            `UPDATE id_segment_meta SET high_water = GREATEST(high_water, CASE biz_tag ${[...got].map(() => 'WHEN ? THEN ?').join(' ')} END)
               WHERE biz_tag IN (${[...got].map(() => '?').join(', ')})`,
            [...[...got].flatMap(([key, maxId]) => [key, maxId]), ...got.keys()],
          );
          return got;
        });
      } catch (e) {
        if (!isRolledBack(e) || attempt >= 3) throw isIdError(e) ? e : new IdError('DATABASE_UNAVAILABLE', `database unavailable: batched fetch failed: ${(e as Error).message}`);
      }
    }
  }

  private async fetchManyPostgres(requests: FetchRequest[], token: bigint): Promise<Map<string, bigint>> {
    const values = requests.map(() => '(CAST(? AS varchar), CAST(? AS bigint))').join(', ');
    const rows = await this.db.query<{ biz_tag: string; max_id: string; bumped: string }[]>(
      `WITH v (k, s) AS (VALUES ${values}),
            a AS (UPDATE ${this.table.sql} t SET max_id = t.max_id + v.s, update_time = CURRENT_TIMESTAMP FROM v
                    WHERE t.biz_tag = v.k COLLATE "C" AND t.max_id <= ${MAX_ID} - v.s RETURNING t.biz_tag, t.max_id),
            c AS (UPDATE id_segment_change SET seq = seq + 1, token = token # CAST(? AS bigint)
                    WHERE id = 1 AND EXISTS (SELECT 1 FROM a) RETURNING id),
            h AS (UPDATE id_segment_meta m SET high_water = GREATEST(m.high_water, a.max_id) FROM a
                    WHERE m.biz_tag = a.biz_tag COLLATE "C")
       SELECT a.biz_tag AS biz_tag, CAST(a.max_id AS TEXT) AS max_id, (SELECT COUNT(*) FROM c) AS bumped FROM a`,
      [...requests.flatMap((r) => [r.key, BigInt(r.step)]), token],
      { retryUnknown: true }, // sent again after an unknown outcome: a gap, never a repeat
    );
    const got = new Map<string, bigint>();
    if (rows.length > 0 && String(rows[0].bumped) !== '1') return got;
    for (const r of rows) got.set(r.biz_tag, BigInt(r.max_id));
    return got;
  }

  async find(key: string): Promise<SegmentKeyRow | null> {
    return this.db.withManager((manager) => this.findWith(manager, key), { repeatable: true });
  }

  private async findWith(manager: EntityManager, key: string): Promise<SegmentKeyRow | null> {
    const row = await q.oneKey(manager, this.table, this.db.dialect, key).getRawOne();
    return row === undefined ? null : toKeyRow(row);
  }

  async findMany(keys: string[]): Promise<SegmentKeyRow[]> {
    if (keys.length === 0) return [];
    return this.db.withManager(async (manager) => {
      const [sql, values] = this.someKeysSql(manager, keys);
      return (await this.readCausally<KeyRecord[]>(manager, sql, values)).map(toKeyRow);
    }, { repeatable: true });
  }

  /**
   * The read of some keys, built by the query builder once per size: the keys padded to the next
   * power of two (the last one repeated; the rows are the same), so lookups and polls of any
   * number of keys share a dozen texts instead of building one each time (a first use of many
   * keys spent a tenth of its CPU building them).
   */
  private someKeysSql(manager: EntityManager, keys: string[]): [string, unknown[]] {
    let size = 1;
    while (size < keys.length) size *= 2;
    const values = keys.length === size ? keys : [...keys, ...Array<string>(size - keys.length).fill(keys[keys.length - 1])];
    let sql = this.someKeysText.get(size);
    if (sql === undefined) {
      const [built, params] = q.someKeys(manager, this.table, this.db.dialect, values).getQueryAndParameters();
      // the builder binds the keys in the order given; nothing else
      if (params.length !== size || params.some((p, i) => p !== values[i])) return [built, params];
      sql = built;
      this.someKeysText.set(size, sql);
    }
    return [sql, values];
  }

  /** a poll's read, after every commit this instance made through any Galera node */
  private async readCausally<T>(manager: EntityManager, sql: string, values: unknown[] = []): Promise<T> {
    try {
      return await manager.query(this.causalRead + sql, values);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (this.causalRead === '' || (code !== 'ER_UNKNOWN_SYSTEM_VARIABLE' && code !== 'ER_PARSE_ERROR')) throw e;
      this.causalRead = '';
      return manager.query(sql, values);
    }
  }

  async readChanges(): Promise<ChangeMark> {
    const d = this.db.dialect;
    const rows = await this.db.withManager(
      (manager) =>
        this.readCausally<{ seq: string; token: string }[]>(
          manager,
          `SELECT ${asText(d, 'seq')} AS seq, ${asText(d, 'token')} AS token FROM id_segment_change WHERE id = 1`,
        ),
      { repeatable: true },
    );
    if (rows.length === 0) throw new Error('id_segment_change has no row 1: run the migrations (or INSERT INTO id_segment_change VALUES (1, 0, 0))');
    return { seq: BigInt(rows[0].seq), token: BigInt(rows[0].token) };
  }

  ownFetches(): ChangeMark {
    return this.own.mark;
  }

  async listPage(after: string | null, limit: number, prefix: string | null): Promise<SegmentKeyRow[]> {
    const rows = await this.db.withManager((manager) => q.keyPage(manager, this.table, this.db.dialect, { after, prefix, limit }).getRawMany(), {
      repeatable: true,
    });
    return rows.map(toKeyRow);
  }

  async list(): Promise<SegmentKeyRow[]> {
    const rows = await this.db.withManager((manager) => q.keyPage(manager, this.table, this.db.dialect, { after: null, prefix: null }).getRawMany(), {
      repeatable: true,
    });
    return rows.map(toKeyRow);
  }

  async newestPeriodKey(base: string): Promise<string | null> {
    const rows = await this.db.query<{ k: Buffer | string | null }[]>(newestPeriodKeySql(this.table, this.db.dialect), [
      periodKeyPattern(this.db.dialect, base),
    ]);
    const k = rows[0]?.k ?? null;
    return k === null ? null : k.toString();
  }

  create(row: NewSegmentKey): Promise<SegmentKeyRow> {
    return this.db.transaction(async (query, manager) => {
      const marks = await query<{ high_water: string }[]>(
        `SELECT ${asText(this.db.dialect, 'high_water')} AS high_water FROM id_segment_meta WHERE biz_tag = ? FOR UPDATE`,
        [row.key],
      );
      const smallest = smallestStart(BigInt(marks[0]?.high_water ?? '0'), row.markMargin);
      if (row.startId < smallest) {
        throw (await this.findWith(manager, row.key)) === null ? belowMark(row.key, smallest) : keyExists(row.key);
      }
      try {
        const t = this.table;
        const blanks = t.blankColumns.map((c) => `, ${t.quote(c)}`).join('');
        await query(
          `INSERT INTO ${t.sql} (biz_tag, max_id, step, ${t.descriptionSql}, update_time${blanks})
             VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP${t.blankColumns.map(() => ", ''").join('')})`,
          [row.key, row.startId, BigInt(row.step), t.description(row.description)],
        );
      } catch (e) {
        if ((e as { code?: string }).code === this.sql.duplicateKey) throw keyExists(row.key);
        throw e;
      }
      await q.upsertMeta(manager, row.key, { public: row.public ? 1 : 0 });
      if (row.format != null) await q.upsertMeta(manager, row.key, { format: row.format });
      await query(this.sql.bump, [changeToken()]);
      return (await this.findWith(manager, row.key))!;
    });
  }

  update(key: string, patch: SegmentKeyPatch): Promise<SegmentKeyRow | null> {
    // one transaction with the bump: a change committed without it would stay unseen by idle polls
    return this.db.transaction(async (query, manager) => {
      const sets: string[] = [];
      const values: unknown[] = [];
      if (patch.step !== undefined) sets.push('step = ?') && values.push(BigInt(patch.step));
      if (patch.description !== undefined) sets.push(`${this.table.descriptionSql} = ?`) && values.push(this.table.description(patch.description));
      if (sets.length > 0) {
        const ok = await query<Changed>(`UPDATE ${this.table.sql} SET ${sets.join(', ')} WHERE biz_tag = ${this.key}`, [...values, key]);
        if (ok.affectedRows === 0) return null;
      }
      if (patch.public !== undefined) await q.upsertMeta(manager, key, { public: patch.public ? 1 : 0 });
      if (patch.format !== undefined) await q.upsertMeta(manager, key, { format: patch.format });
      await query(this.sql.bump, [changeToken()]);
      return this.findWith(manager, key);
    });
  }

  skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null> {
    // PostgreSQL infers a bare parameter's type from the other side: CAST keeps it bigint, never int or text
    const big = this.db.dialect === 'postgres' ? 'CAST(? AS bigint)' : '?';
    return this.db.transaction(async (query, manager) => {
      const ok =
        'by' in target
          ? await query<Changed>(`UPDATE ${this.table.sql} SET max_id = max_id + ${big} WHERE biz_tag = ${this.key} AND max_id <= ${MAX_ID} - ${big}`, [
              target.by,
              key,
              target.by,
            ])
          : await query<Changed>(`UPDATE ${this.table.sql} SET max_id = ${big} WHERE biz_tag = ${this.key} AND max_id < ${big}`, [target.to, key, target.to]);
      if (ok.affectedRows === 0) {
        const row = await this.findWith(manager, key);
        if (row === null) return null;
        throw 'by' in target ? skipPastMax(key) : skipBackwards(key, row.maxId, target.to);
      }
      // in the same transaction: a moved max_id whose skip counter did not move would never make
      // the other instances drop what they hold
      await query(this.sql.upsertSkipped(this.table.sql, this.key), [key]);
      await query(this.sql.bump, [changeToken()]);
      return this.findWith(manager, key);
    });
  }

  async raiseMarks(marks: { key: string; highWater: bigint }[]): Promise<void> {
    if (marks.length === 0) return;
    // one row per key (PostgreSQL refuses to upsert one row twice in a statement)
    const highest = new Map<string, bigint>();
    for (const m of marks) highest.set(m.key, (highest.get(m.key) ?? m.highWater) > m.highWater ? highest.get(m.key)! : m.highWater);
    // in key order (byte order, as utf8mb4_bin and COLLATE "C" sort): rows locked in the order
    // MySQL's batched fetch locks its marks' rows (by the primary key), less room for deadlocks
    const sorted = [...highest].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    await this.db.query(
      this.sql.raiseMarks(highest.size),
      sorted.flatMap(([key, highWater]) => [key, highWater]),
      { retryUnknown: true }, // only ever raises: a repeat changes nothing
    );
  }

  async publishTargets(instanceId: string, targets: PublishedTarget[]): Promise<void> {
    if (targets.length === 0) return;
    // an upsert of this instance's own rows and a delete of old ones: a repeat changes nothing
    await this.db.withManager((manager) => q.publishTargets(manager, this.db.dialect, instanceId, targets), { repeatable: true });
  }

  async haltedPeriodKeys(withinMs: number): Promise<string[]> {
    return this.db.withManager((manager) => q.haltedPeriodKeys(manager, this.db.dialect, withinMs), { repeatable: true });
  }

  async requiredTargets(keys: string[], withinMs: number): Promise<Map<string, bigint>> {
    if (keys.length === 0) return new Map();
    return this.db.withManager((manager) => q.requiredTargets(manager, this.db.dialect, keys, withinMs), { repeatable: true });
  }
}
