import { sqliteUnavailable } from '@app/database';
import type BetterSqlite3 from 'better-sqlite3';
import { MAX_ID, NewSegmentKey, PublishedTarget, SegmentKeyRow, SegmentStore, SkipTarget } from './segment-store';
import {
  belowMark,
  exhausted,
  KEY_COLUMNS,
  KEY_FROM,
  KeyRecord,
  keyExists,
  skipBackwards,
  skipPastMax,
  smallestStart,
  toKeyRow,
  unknownKey,
} from './segment-sql';

/** the database's clock in ms (one host, so the same clock every process on it reads) */
const NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
const TARGET_KEEP_MS = 3_600_000n;
const SELECT_KEY = `SELECT ${KEY_COLUMNS.replace(/AS CHAR/g, 'AS TEXT')} FROM ${KEY_FROM}`;

function wrap<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(sqliteUnavailable(e));
  }
}

/**
 * leaf_alloc on the embedded SQLite file. The fetch is UPDATE ... RETURNING read with safe
 * integers, the same overflow guard as MySQL. Each statement is its own transaction, fsynced
 * (synchronous=FULL) before the range is handed out.
 */
export class SqliteSegmentStore implements SegmentStore {
  private readonly fetchStmt: BetterSqlite3.Statement;
  private readonly findStmt: BetterSqlite3.Statement;

  constructor(private readonly db: BetterSqlite3.Database) {
    this.fetchStmt = db
      .prepare(
        `UPDATE leaf_alloc SET max_id = max_id + ?, update_time = CURRENT_TIMESTAMP
          WHERE biz_tag = ? AND max_id <= ${MAX_ID} - ? RETURNING max_id`,
      )
      .safeIntegers(true);
    this.findStmt = db.prepare(`${SELECT_KEY} WHERE a.biz_tag = ?`);
  }

  fetch(key: string, step: number): Promise<bigint> {
    return wrap(() => {
      // Integers bound as BigInt: a JS number binds as REAL, and REAL arithmetic rounds above 2^53.
      const big = BigInt(step);
      const row = this.fetchStmt.get(big, key, big) as { max_id: bigint } | undefined;
      if (row !== undefined) return row.max_id;
      throw this.findSync(key) === null ? unknownKey(key) : exhausted(key, step);
    });
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

  list(): Promise<SegmentKeyRow[]> {
    return wrap(() =>
      (this.db.prepare(`${SELECT_KEY} ORDER BY a.biz_tag`).all() as KeyRecord[]).map(
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
        this.db
          .prepare('INSERT INTO leaf_alloc (biz_tag, max_id, step, description) VALUES (?, ?, ?, ?)')
          .run(row.key, row.startId, BigInt(row.step), row.description);
        this.db
          .prepare('INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON CONFLICT(biz_tag) DO UPDATE SET public = excluded.public')
          .run(row.key, row.public ? 1 : 0);
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

  update(key: string, patch: { step?: number; description?: string | null; public?: boolean }): Promise<SegmentKeyRow | null> {
    return wrap(() => {
      const run = this.db.transaction(() => {
        if (this.findSync(key) === null) return false;
        if (patch.step !== undefined) this.db.prepare('UPDATE leaf_alloc SET step = ? WHERE biz_tag = ?').run(BigInt(patch.step), key);
        if (patch.description !== undefined) {
          this.db.prepare('UPDATE leaf_alloc SET description = ? WHERE biz_tag = ?').run(patch.description, key);
        }
        if (patch.public !== undefined) {
          this.db
            .prepare('INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON CONFLICT(biz_tag) DO UPDATE SET public = excluded.public')
            .run(key, patch.public ? 1 : 0);
        }
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
                .prepare(`UPDATE leaf_alloc SET max_id = max_id + ? WHERE biz_tag = ? AND max_id <= ${MAX_ID} - ?`)
                .run(target.by, key, target.by).changes
            : this.db.prepare('UPDATE leaf_alloc SET max_id = ? WHERE biz_tag = ? AND max_id < ?').run(target.to, key, target.to).changes;
        if (changes === 0) {
          const row = this.findSync(key);
          if (row === null) return null;
          throw 'by' in target ? skipPastMax(key) : skipBackwards(key, row.maxId, target.to);
        }
        this.db
          .prepare(
            `INSERT INTO id_segment_meta (biz_tag, skip_seq, high_water) SELECT biz_tag, 1, max_id FROM leaf_alloc WHERE biz_tag = ?
               ON CONFLICT(biz_tag) DO UPDATE SET skip_seq = skip_seq + 1, high_water = MAX(high_water, excluded.high_water)`,
          )
          .run(key);
        return this.findSync(key);
      });
      return run.immediate();
    });
  }

  raiseMarks(marks: { key: string; highWater: bigint }[]): Promise<void> {
    return wrap(() => {
      const raise = this.db.prepare(
        `INSERT INTO id_segment_meta (biz_tag, high_water) VALUES (?, ?)
           ON CONFLICT(biz_tag) DO UPDATE SET high_water = MAX(high_water, excluded.high_water)`,
      );
      this.db.transaction(() => {
        for (const m of marks) raise.run(m.key, m.highWater);
      }).immediate();
    });
  }

  publishTargets(instanceId: string, targets: PublishedTarget[]): Promise<void> {
    return wrap(() => {
      const publish = this.db.prepare(
        `INSERT INTO id_segment_halt (instance_id, biz_tag, min_target, seen_at) VALUES (?, ?, ?, ${NOW_MS})
           ON CONFLICT(instance_id, biz_tag) DO UPDATE SET min_target = excluded.min_target, seen_at = excluded.seen_at`,
      );
      this.db.transaction(() => {
        for (const t of targets) publish.run(instanceId, t.key, t.target);
        this.db.prepare(`DELETE FROM id_segment_halt WHERE seen_at < ${NOW_MS} - ?`).run(TARGET_KEEP_MS);
      }).immediate();
    });
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
