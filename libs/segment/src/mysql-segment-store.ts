import { IdError } from '@app/core';
import { MysqlPool } from '@app/database';
import { MAX_ID, NewSegmentKey, SegmentKeyRow, SegmentStore, SkipTarget } from './segment-store';
import { exhausted, KEY_COLUMNS, KEY_FROM, KeyRecord, skipBackwards, skipPastMax, toKeyRow, unknownKey } from './segment-sql';

interface OkPacket {
  affectedRows: number;
  insertId: number | string;
}

/**
 * leaf_alloc on MySQL/MariaDB. The fetch is one statement: LAST_INSERT_ID(expr) makes the new
 * max_id the OK packet's insertId, so no second round trip (and no stale LAST_INSERT_ID from
 * another pooled connection).
 */
export class MysqlSegmentStore implements SegmentStore {
  constructor(private readonly db: MysqlPool) {}

  async fetch(key: string, step: number): Promise<bigint> {
    const ok = await this.db.query<OkPacket>(
      `UPDATE leaf_alloc SET max_id = LAST_INSERT_ID(max_id + ?)
        WHERE biz_tag = ? AND max_id <= ${MAX_ID} - ?`,
      [step, key, step],
      // sent again after an unknown outcome (failover): a range that did commit is skipped, a gap, never a repeat
      { retryUnknown: true },
    );
    if (ok.affectedRows === 1) return BigInt(String(ok.insertId));
    throw (await this.find(key)) === null ? unknownKey(key) : exhausted(key, step);
  }

  async find(key: string): Promise<SegmentKeyRow | null> {
    const rows = await this.db.query<KeyRecord[]>(`SELECT ${KEY_COLUMNS} FROM ${KEY_FROM} WHERE a.biz_tag = ?`, [key]);
    return rows.length === 0 ? null : toKeyRow(rows[0]);
  }

  async findMany(keys: string[]): Promise<SegmentKeyRow[]> {
    if (keys.length === 0) return [];
    const rows = await this.db.query<KeyRecord[]>(`SELECT ${KEY_COLUMNS} FROM ${KEY_FROM} WHERE a.biz_tag IN (?)`, [keys]);
    return rows.map(toKeyRow);
  }

  async list(): Promise<SegmentKeyRow[]> {
    const rows = await this.db.query<KeyRecord[]>(`SELECT ${KEY_COLUMNS} FROM ${KEY_FROM} ORDER BY a.biz_tag`);
    return rows.map(toKeyRow);
  }

  async create(row: NewSegmentKey): Promise<SegmentKeyRow> {
    try {
      await this.db.query('INSERT INTO leaf_alloc (biz_tag, max_id, step, description) VALUES (?, ?, ?, ?)', [
        row.key,
        row.startId.toString(),
        row.step,
        row.description,
      ]);
    } catch (e) {
      if ((e as { code?: string }).code === 'ER_DUP_ENTRY') {
        throw new IdError('KEY_EXISTS', `key "${row.key}" already exists`);
      }
      throw e;
    }
    await this.db.query(
      'INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON DUPLICATE KEY UPDATE public = VALUES(public)',
      [row.key, row.public ? 1 : 0],
    );
    return (await this.find(row.key))!;
  }

  async update(
    key: string,
    patch: { step?: number; description?: string | null; public?: boolean },
  ): Promise<SegmentKeyRow | null> {
    const sets: string[] = [];
    const values: unknown[] = [];
    if (patch.step !== undefined) sets.push('step = ?') && values.push(patch.step);
    if (patch.description !== undefined) sets.push('description = ?') && values.push(patch.description);
    if (sets.length > 0) {
      const ok = await this.db.query<OkPacket>(`UPDATE leaf_alloc SET ${sets.join(', ')} WHERE biz_tag = ?`, [...values, key]);
      if (ok.affectedRows === 0) return null;
    }
    if (patch.public !== undefined) {
      await this.db.query(
        'INSERT INTO id_segment_meta (biz_tag, public) VALUES (?, ?) ON DUPLICATE KEY UPDATE public = VALUES(public)',
        [key, patch.public ? 1 : 0],
      );
    }
    return this.find(key);
  }

  async skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null> {
    const ok =
      'by' in target
        ? await this.db.query<OkPacket>(
            `UPDATE leaf_alloc SET max_id = max_id + ? WHERE biz_tag = ? AND max_id <= ${MAX_ID} - ?`,
            [target.by.toString(), key, target.by.toString()],
          )
        : await this.db.query<OkPacket>('UPDATE leaf_alloc SET max_id = ? WHERE biz_tag = ? AND max_id < ?', [
            target.to.toString(),
            key,
            target.to.toString(),
          ]);
    if (ok.affectedRows === 0) {
      const row = await this.find(key);
      if (row === null) return null;
      throw 'by' in target ? skipPastMax(key) : skipBackwards(key, row.maxId, target.to);
    }
    await this.db.query(
      'INSERT INTO id_segment_meta (biz_tag, skip_seq) VALUES (?, 1) ON DUPLICATE KEY UPDATE skip_seq = skip_seq + 1',
      [key],
    );
    return this.find(key);
  }
}
