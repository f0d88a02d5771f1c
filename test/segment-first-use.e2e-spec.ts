import { isIdError, loadConfig } from '@app/core';
import { dataSourceOptions, newDataSource, openSqlPool, runMigrations, SqliteWriterThread, sqliteWriterFor } from '@app/database';
import { FetchOutcome, segmentStoreFor, SegmentKeyRow, SegmentStore } from '@app/segment';
import type { DataSource } from 'typeorm';
import type { SqlPool } from '@app/database';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';
import { dialects, openDatabase, TestDatabase } from './support/dialects';

/**
 * First use of many keys (issue 27): first fetches of keys new to an instance go to the store
 * batched (fetchMany: one atomic write for many keys). Through the real store of each dialect:
 * every key's range exact and its own, the change row bumped once per batch, a key's own refusal
 * (unknown, exhausted) answered for that key only; through the app: many keys asked for at once,
 * each answering its first id, one unknown key refused alone, every id unique.
 */
const MAX = 9223372036854775807n;
const KEYS = 300;
const ADMIN_TOKEN = 'first-use-admin-token-0123';

const keyName = (i: number) => `fu${String(i).padStart(4, '0')}`;
/** a start per key, some above 2^53 (exact 64-bit values), one with no room for its step */
const startOf = (i: number) => (i % 3 === 0 ? 2n ** 53n + BigInt(i) * 1000n : 1n + BigInt(i) * 7n);
const stepOf = (i: number) => 10 + (i % 5);

describe.each(dialects())('first use of many keys on %s', (dialect) => {
  let db: TestDatabase;
  let ds: DataSource;
  let pool: SqlPool | null;
  let writer: SqliteWriterThread | null;
  let store: SegmentStore;

  beforeAll(async () => {
    db = await openDatabase(dialect, 'mk_first_use');
    const config = loadConfig({ env: { ...db.env } });
    ds = await newDataSource(dataSourceOptions(config)).initialize();
    await runMigrations(ds);
    pool = config.DB_TYPE === 'sqlite' ? null : openSqlPool(config.DATABASE_URL!);
    writer = pool === null ? sqliteWriterFor(ds) : null;
    store = await segmentStoreFor(config, ds, pool, writer);
    for (let i = 0; i < KEYS; i++) {
      await store.create({ key: keyName(i), startId: startOf(i), step: stepOf(i), description: null, public: false, markMargin: 0n });
    }
    await store.create({ key: 'full', startId: MAX - 5n, step: 10, description: null, public: false, markMargin: 0n });
  }, 120_000);
  afterAll(async () => {
    await writer?.close();
    await pool?.end();
    await ds?.destroy();
    await db?.drop();
  });

  it('fetchMany: each key its exact range, one bump of the change row, unknown and exhausted keys refused alone', async () => {
    const half = Array.from({ length: KEYS / 2 }, (_, i) => i);
    const requests = [
      ...half.map((i) => ({ key: keyName(i), step: stepOf(i) })),
      { key: 'nosuchkey', step: 10 },
      { key: 'full', step: 10 },
    ];
    const before = await store.readChanges();
    const outcomes: FetchOutcome[] = await store.fetchMany!(requests);
    const after = await store.readChanges();
    expect(after.seq - before.seq).toBe(1n);
    expect(outcomes.length).toBe(requests.length);
    half.forEach((i) => expect(outcomes[i]).toBe(startOf(i) + BigInt(stepOf(i))));
    const unknown = outcomes[half.length];
    const full = outcomes[half.length + 1];
    expect(isIdError(unknown) && unknown.code).toBe('UNKNOWN_KEY');
    expect(isIdError(full) && full.code).toBe('ID_SPACE_EXHAUSTED');
    const rows = new Map((await store.findMany(['full', ...half.map(keyName)])).map((r) => [r.key, r.maxId]));
    expect(rows.get('full')).toBe((MAX - 5n).toString()); // the refused key unchanged
    half.forEach((i) => expect(rows.get(keyName(i))).toBe((startOf(i) + BigInt(stepOf(i))).toString()));

    // a second batch hands out the next ranges: the same keys, never a repeat
    const again = await store.fetchMany!(half.map((i) => ({ key: keyName(i), step: stepOf(i) })));
    half.forEach((i) => expect(again[i]).toBe(startOf(i) + 2n * BigInt(stepOf(i))));
  });

  it('first fetches against their lookups (compare-and-set on MySQL): exact ranges when nothing moved; a key moved since, or marked since, still gets a range of its own', async () => {
    const cas = Array.from({ length: 8 }, (_, i) => `cas${i}`);
    for (const [i, key] of cas.entries()) {
      await store.create({ key, startId: 100n + BigInt(i) * 1000n, step: 10, description: null, public: false, markMargin: 0n });
    }
    // keys made by hand have no meta row: all but cas1
    await ds.query(`DELETE FROM id_segment_meta WHERE biz_tag IN (${cas.filter((k) => k !== 'cas1').map((k) => `'${k}'`).join(', ')})`);
    const handedOut: { key: string; start: bigint; end: bigint }[] = [];
    const hand = (key: string, maxId: bigint) => handedOut.push({ key, start: maxId - 10n, end: maxId });
    const looked = async (keys: string[]) => new Map((await store.findMany(keys)).map((r) => [r.key, r]));
    const requestsFor = (keys: string[], rows: Map<string, SegmentKeyRow>) =>
      keys.map((key) => {
        const row = rows.get(key)!;
        return row.metaRow === undefined ? { key, step: 10 } : { key, step: 10, seen: { maxId: row.maxId, metaRow: row.metaRow } };
      });

    // nothing moved since the lookup: each key the range right above what it read, one bump
    let rows = await looked(cas);
    if (dialect !== 'sqlite') expect(cas.map((k) => rows.get(k)!.metaRow)).toEqual(cas.map((k) => k === 'cas1'));
    const before = await store.readChanges();
    const first = await store.fetchMany!(requestsFor(cas, rows));
    expect((await store.readChanges()).seq - before.seq).toBe(1n);
    cas.forEach((key, i) => {
      expect(first[i]).toBe(BigInt(rows.get(key)!.maxId) + 10n);
      hand(key, first[i] as bigint);
    });
    expect((await looked(['cas1'])).get('cas1')!.highWater).toBe(String(first[1])); // the mark raised with the fetch

    // looked up again; then another instance fetches cas2 and a mark gives cas3 a meta row: the
    // batch's count of rows would come out right if cas3's new meta row stood in for cas2's row
    rows = await looked(cas);
    const other = await store.fetch('cas2', 10);
    hand('cas2', other);
    await store.raiseMarks([{ key: 'cas3', highWater: BigInt(rows.get('cas3')!.maxId) }]);
    const second = await store.fetchMany!(requestsFor(cas, rows));
    cas.forEach((key, i) => {
      expect(typeof second[i]).toBe('bigint');
      hand(key, second[i] as bigint);
    });
    expect(second[2]).toBeGreaterThanOrEqual(other + 10n); // above the other instance's range
    // no range handed out twice, and the table is above every one of them
    for (const a of handedOut) {
      for (const b of handedOut) if (a !== b && a.key === b.key) expect(a.end <= b.start || b.end <= a.start).toBe(true);
    }
    const now = await looked(cas);
    for (const r of handedOut) expect(BigInt(now.get(r.key)!.maxId)).toBeGreaterThanOrEqual(r.end);
  });

  it('a batch that names no known key changes nothing, not even the change row', async () => {
    const before = await store.readChanges();
    const outcomes = await store.fetchMany!([{ key: 'nosuch1', step: 5 }, { key: 'nosuch2', step: 5 }]);
    expect(outcomes.map((o) => isIdError(o) && o.code)).toEqual(['UNKNOWN_KEY', 'UNKNOWN_KEY']);
    // SQLite bumps in the writer transaction whatever the fetch found (a spare read of the keys, no more)
    if (dialect !== 'sqlite') expect((await store.readChanges()).seq).toBe(before.seq);
  });

  describe('through the app', () => {
    let app: RunningApp;
    beforeAll(async () => {
      app = await startApp(testConfig({ ...db.env, ADMIN_TOKEN, SEGMENT_DYNAMIC_STEP: 'false', SEGMENT_WAIT_MS: '5000' }));
    });
    afterAll(() => app?.close());

    it('every key asked for at once: each answers the first id of its range, the unknown key alone is refused, every id unique', async () => {
      const fresh = Array.from({ length: KEYS / 2 }, (_, j) => KEYS / 2 + j); // never fetched yet
      const asked = [...fresh.map(keyName), 'notakey'];
      const answers = await Promise.all(asked.map((key) => app.get(`/ids/segment?key=${key}&count=3`)));
      const all: string[] = [];
      fresh.forEach((i, j) => {
        expect(answers[j].status).toBe(200);
        const ids = answers[j].body.ids as string[];
        const first = startOf(i);
        expect(ids).toEqual([first, first + 1n, first + 2n].map(String));
        all.push(...ids.map((id) => `${keyName(i)}:${id}`));
      });
      expect(answers[fresh.length].body.code).toBe('UNKNOWN_KEY');
      // a second round: the rest of each key's first range, then the next range, nothing twice
      const more = await Promise.all(fresh.map((i) => app.get(`/ids/segment?key=${keyName(i)}&count=${stepOf(i) + 2}`)));
      fresh.forEach((i, j) => {
        expect(more[j].status).toBe(200);
        all.push(...(more[j].body.ids as string[]).map((id) => `${keyName(i)}:${id}`));
      });
      expect(new Set(all).size).toBe(all.length);
      expect(all.length).toBe(fresh.reduce((n, i) => n + 3 + stepOf(i) + 2, 0));
    });
  });
});
