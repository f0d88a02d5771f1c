import { sqliteUnavailable, SqliteWriterThread } from '@app/database';
import type BetterSqlite3 from 'better-sqlite3';
import { changeToken, OwnFetches } from './change-watch';
import { newestPeriodKeySql, NOT_PERIOD_KEY, periodKeyPattern, setFormatSql } from './segment-format-sql';
import { ChangeMark, FetchOutcome, FetchRequest, MAX_ID, NewSegmentKey, PublishedTarget, SegmentKeyPatch, SegmentKeyRow, SegmentStore, SkipTarget } from './segment-store';
import { ColumnInfo, SegmentTable } from './segment-table';
import {
  belowMark,
  exactKey,
  exhausted,
  KeyRecord,
  keyExists,
  selectKey,
  skipBackwards,
  skipPastMax,
  smallestStart,
  toKeyRow,
  unknownKey,
} from './segment-sql';

/** the database's clock in ms (one host, so the same clock every process on it reads) */
const NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
const TARGET_KEEP_MS = 3_600_000n;
const KEY = exactKey('sqlite');

/** in the transaction of every write the poll must see; SQLite has no XOR operator: a ^ b = (a | b) - (a & b) */
const BUMP = 'UPDATE id_segment_change SET seq = seq + 1, token = (token | ?) - (token & ?) WHERE id = 1';

/** The segment table's columns as SQLite declares them (none: no such table). */
export function readSqliteSegmentTable(db: BetterSqlite3.Database, name: string): SegmentTable {
  const rows = db.prepare(`PRAGMA table_info(\`${name}\`)`).all() as { name: string; type: string; notnull: number; dflt_value: unknown; pk: number }[];
  const columns: ColumnInfo[] = rows.map((r) => {
    const m = /^\s*([A-Za-z ]+?)\s*(?:\(\s*(\d+)\s*\))?\s*$/.exec(r.type);
    return {
      name: r.name,
      type: m?.[1] ?? r.type,
      maxLength: m?.[2] === undefined ? null : Number(m[2]),
      nullable: r.notnull === 0,
      hasDefault: r.dflt_value !== null,
    };
  });
  return SegmentTable.fromColumns(name, columns);
}

function wrap<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(sqliteUnavailable(e));
  }
}

/**
 * The segment table (SEGMENT_TABLE) on the embedded SQLite file. The fetch is UPDATE ... RETURNING read with safe
 * integers, the same overflow guard as MySQL. Each statement is its own transaction, fsynced
 * (synchronous=FULL) before the range is handed out. The writes that recur with traffic and
 * time (fetches, marks, halt targets) commit on the writer thread, off the event loop (see
 * SqliteWriterThread); the operator's writes (create, update, skip) stay here, rare and
 * checked in one synchronous transaction.
 */
export class SqliteSegmentStore implements SegmentStore {
  private readonly fetchSql: string;
  /** after the fetch, in its transaction: the key's mark raised to the max_id it left (no meta row: left to the poll) */
  private readonly markSql: string;
  private readonly findStmt: BetterSqlite3.Statement;
  private readonly selectSql: string;
  private readonly own = new OwnFetches();

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly writer: SqliteWriterThread,
    readonly table: SegmentTable = SegmentTable.ours(),
  ) {
    this.fetchSql = `UPDATE ${table.sql} SET max_id = max_id + ?, update_time = CURRENT_TIMESTAMP
          WHERE biz_tag = ${KEY} AND max_id <= ${MAX_ID} - ? RETURNING max_id`;
    this.markSql = `UPDATE id_segment_meta SET high_water = MAX(high_water, COALESCE((SELECT max_id FROM ${table.sql} WHERE biz_tag = ${KEY}), 0))
          WHERE biz_tag = ?`;
    this.selectSql = selectKey(table, 'sqlite');
    this.findStmt = db.prepare(`${this.selectSql} WHERE a.biz_tag = ${KEY}`);
  }

  fetch(key: string, step: number): Promise<bigint> {
    // Integers bound as BigInt: a JS number binds as REAL, and REAL arithmetic rounds above 2^53.
    const big = BigInt(step);
    const token = changeToken();
    // one transaction: the fetch, its mark and its bump of the change row commit (or are lost)
    // together; the bump of a fetch that found no row changes nothing but an extra read of the
    // keys, the mark of a refused fetch (2^63-1) stays at or above what was issued
    const statements = [
      { sql: this.fetchSql, params: [big, key, big], answer: 'get' as const },
      { sql: this.markSql, params: [key, key], answer: 'run' as const },
      { sql: BUMP, params: [token, token], answer: 'run' as const },
    ];
    return this.writer.transaction(statements).then(([first]) => {
      const row = first as { max_id: bigint } | undefined;
      if (row !== undefined) {
        this.own.add(token);
        return row.max_id;
      }
      return wrap<bigint>(() => {
        throw this.findSync(key) === null ? unknownKey(key) : exhausted(key, step);
      });
    });
  }

  /**
   * First fetches of many keys: one writer transaction, each key's UPDATE ... RETURNING and its
   * mark as its single fetch, the change row bumped once; one fsync for all.
   */
  fetchMany(requests: FetchRequest[]): Promise<FetchOutcome[]> {
    if (requests.length === 0) return Promise.resolve([]);
    const token = changeToken();
    const statements = [
      ...requests.flatMap((r) => [
        { sql: this.fetchSql, params: [BigInt(r.step), r.key, BigInt(r.step)], answer: 'get' as const },
        { sql: this.markSql, params: [r.key, r.key], answer: 'run' as const },
      ]),
      { sql: BUMP, params: [token, token], answer: 'run' as const },
    ];
    return this.writer.transaction(statements).then((answers) =>
      wrap(() => {
        let any = false;
        const outcomes = requests.map((r, i): FetchOutcome => {
          const row = answers[2 * i] as { max_id: bigint } | undefined;
          if (row !== undefined) {
            any = true;
            return row.max_id;
          }
          return this.findSync(r.key) === null ? unknownKey(r.key) : exhausted(r.key, r.step);
        });
        if (any) this.own.add(token);
        return outcomes;
      }),
    );
  }

  private findSync(key: string): SegmentKeyRow | null {
    const r = this.findStmt.get(key) as KeyRecord | undefined;
    return r === undefined ? null : toKeyRow(r);
  }

  find(key: string): Promise<SegmentKeyRow | null> {
    return wrap(() => this.findSync(key));
  }

  findMany(keys: string[]): Promise<SegmentKeyRow[]> {
    return wrap(() => keys.map((k) => this.findSync(k)).filter((r): r is SegmentKeyRow => r !== null));
  }

  readChanges(): Promise<ChangeMark> {
    return wrap(() => {
      const r = this.db.prepare('SELECT seq, token FROM id_segment_change WHERE id = 1').safeIntegers(true).get() as ChangeMark | undefined;
      if (r === undefined) throw new Error('id_segment_change has no row 1: run the migrations');
      return { seq: r.seq, token: r.token };
    });
  }

  ownFetches(): ChangeMark {
    return this.own.mark;
  }

  listPage(after: string | null, limit: number, prefix: string | null): Promise<SegmentKeyRow[]> {
    return wrap(() => {
      const where: string[] = [NOT_PERIOD_KEY];
      const values: unknown[] = [];
      if (after !== null) where.push(`a.biz_tag > ${KEY}`) && values.push(after);
      // GLOB is case-sensitive, as keys compare here; its wildcards in the prefix are escaped as classes
      if (prefix !== null) where.push('a.biz_tag GLOB ?') && values.push(`${prefix.replace(/[*?[]/g, (c) => `[${c}]`)}*`);
      const sql = `${this.selectSql} WHERE ${where.join(' AND ')} ORDER BY a.biz_tag COLLATE BINARY LIMIT ?`;
      return (this.db.prepare(sql).all(...values, limit) as KeyRecord[]).map(toKeyRow);
    });
  }

  list(): Promise<SegmentKeyRow[]> {
    return wrap(() =>
      (this.db.prepare(`${this.selectSql} WHERE ${NOT_PERIOD_KEY} ORDER BY a.biz_tag`).all() as KeyRecord[]).map(
        toKeyRow,
      ),
    );
  }

  create(row: NewSegmentKey): Promise<SegmentKeyRow> {
    return wrap(() => {
      const insert = this.db.transaction(() => {
        const mark = this.db.prepare('SELECT high_water FROM id_segment_meta WHERE biz_tag = ?').safeIntegers(true).get(row.key) as
          | { high_water: bigint }
          | undefined;
        const smallest = smallestStart(mark?.high_water ?? 0n, row.markMargin);
        if (row.startId < smallest) throw this.findSync(row.key) === null ? belowMark(row.key, smallest) : keyExists(row.key);
        const t = this.table;
        this.db
          .prepare(
            `INSERT INTO ${t.sql} (biz_tag, max_id, step, ${t.descriptionSql}, update_time${t.blankColumns.map((c) => `, \`${c}\``).join('')})
               VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP${t.blankColumns.map(() => ", ''").join('')})`,
          )
          .run(row.key, row.startId, BigInt(row.step), t.description(row.description));
        this.db
          .prepare('INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON CONFLICT(biz_tag) DO UPDATE SET public = excluded.public')
          .run(row.key, row.public ? 1 : 0);
        if (row.format != null) this.db.prepare(setFormatSql('sqlite')).run(row.key, row.format);
        this.bump();
      });
      try {
        insert.immediate();
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw keyExists(row.key);
        throw e;
      }
      return this.findSync(row.key)!;
    });
  }

  update(key: string, patch: SegmentKeyPatch): Promise<SegmentKeyRow | null> {
    return wrap(() => {
      const run = this.db.transaction(() => {
        if (this.findSync(key) === null) return false;
        const t = this.table;
        if (patch.step !== undefined) this.db.prepare(`UPDATE ${t.sql} SET step = ? WHERE biz_tag = ${KEY}`).run(BigInt(patch.step), key);
        if (patch.description !== undefined) {
          this.db.prepare(`UPDATE ${t.sql} SET ${t.descriptionSql} = ? WHERE biz_tag = ${KEY}`).run(t.description(patch.description), key);
        }
        if (patch.public !== undefined) {
          this.db
            .prepare('INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON CONFLICT(biz_tag) DO UPDATE SET public = excluded.public')
            .run(key, patch.public ? 1 : 0);
        }
        if (patch.format !== undefined) this.db.prepare(setFormatSql('sqlite')).run(key, patch.format);
        this.bump();
        return true;
      });
      return run.immediate() ? this.findSync(key) : null;
    });
  }

  skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null> {
    return wrap(() => {
      const run = this.db.transaction(() => {
        const changes =
          'by' in target
            ? this.db
                .prepare(`UPDATE ${this.table.sql} SET max_id = max_id + ? WHERE biz_tag = ${KEY} AND max_id <= ${MAX_ID} - ?`)
                .run(target.by, key, target.by).changes
            : this.db.prepare(`UPDATE ${this.table.sql} SET max_id = ? WHERE biz_tag = ${KEY} AND max_id < ?`).run(target.to, key, target.to).changes;
        if (changes === 0) {
          const row = this.findSync(key);
          if (row === null) return null;
          throw 'by' in target ? skipPastMax(key) : skipBackwards(key, row.maxId, target.to);
        }
        this.db
          .prepare(
            `INSERT INTO id_segment_meta (biz_tag, skip_seq, high_water) SELECT biz_tag, 1, max_id FROM ${this.table.sql} WHERE biz_tag = ${KEY}
               ON CONFLICT(biz_tag) DO UPDATE SET skip_seq = skip_seq + 1, high_water = MAX(high_water, excluded.high_water)`,
          )
          .run(key);
        this.bump();
        return this.findSync(key);
      });
      return run.immediate();
    });
  }

  newestPeriodKey(base: string): Promise<string | null> {
    return wrap(() => {
      const r = this.db.prepare(newestPeriodKeySql(this.table, 'sqlite')).get(periodKeyPattern('sqlite', base)) as { k: string | null };
      return r.k;
    });
  }

  /** inside the caller's transaction */
  private bump(): void {
    const token = changeToken();
    this.db.prepare(BUMP).run(token, token);
  }

  async raiseMarks(marks: { key: string; highWater: bigint }[]): Promise<void> {
    const sql = `INSERT INTO id_segment_meta (biz_tag, high_water) VALUES (?, ?)
           ON CONFLICT(biz_tag) DO UPDATE SET high_water = MAX(high_water, excluded.high_water)`;
    await this.writer.transaction(marks.map((m) => ({ sql, params: [m.key, m.highWater], answer: 'run' as const })));
  }

  async publishTargets(instanceId: string, targets: PublishedTarget[]): Promise<void> {
    const sql = `INSERT INTO id_segment_halt (instance_id, biz_tag, min_target, seen_at) VALUES (?, ?, ?, ${NOW_MS})
           ON CONFLICT(instance_id, biz_tag) DO UPDATE SET min_target = excluded.min_target, seen_at = excluded.seen_at`;
    await this.writer.transaction([
      ...targets.map((t) => ({ sql, params: [instanceId, t.key, t.target], answer: 'run' as const })),
      { sql: `DELETE FROM id_segment_halt WHERE seen_at < ${NOW_MS} - ?`, params: [TARGET_KEEP_MS], answer: 'run' },
    ]);
  }

  haltedPeriodKeys(withinMs: number): Promise<string[]> {
    return wrap(() =>
      (
        this.db
          .prepare(`SELECT DISTINCT biz_tag FROM id_segment_halt WHERE biz_tag LIKE '%~%' AND seen_at >= ${NOW_MS} - ? ORDER BY biz_tag`)
          .all(BigInt(withinMs)) as { biz_tag: string }[]
      ).map((r) => r.biz_tag),
    );
  }

  requiredTargets(keys: string[], withinMs: number): Promise<Map<string, bigint>> {
    return wrap(() => {
      const read = this.db
        .prepare(`SELECT MAX(min_target) AS target FROM id_segment_halt WHERE biz_tag = ? AND seen_at >= ${NOW_MS} - ?`)
        .safeIntegers(true);
      const found = new Map<string, bigint>();
      for (const key of keys) {
        const r = read.get(key, BigInt(withinMs)) as { target: bigint | null };
        if (r.target !== null) found.set(key, r.target);
      }
      return found;
    });
  }
}
