import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteWriterThread } from '@app/database';

const DIST_WRITER = join(__dirname, '../dist/libs/database/src/sqlite-writer-thread.js');

describe('SqliteWriterThread: the recurring writes, off the event loop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idb-writer-'));
  const path = join(dir, 'w.sqlite');
  let writer: SqliteWriterThread;

  beforeAll(() => {
    const db = new Database(path);
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    db.close();
    writer = new SqliteWriterThread(path);
  });
  afterAll(() => writer.close());

  it('reads integers back exact (BigInt), above 2^53 too', async () => {
    await writer.run('INSERT INTO t (k, v) VALUES (?, ?)', ['big', 2n ** 62n + 1n]);
    const row = await writer.get<{ v: bigint }>('UPDATE t SET v = v + ? WHERE k = ? RETURNING v', [1n, 'big']);
    expect(row).toEqual({ v: 2n ** 62n + 2n });
    expect(await writer.get('UPDATE t SET v = v + 1 WHERE k = ? RETURNING v', ['none'])).toBeUndefined();
  });

  it('a transaction is all or none, and its error keeps its SQLite code', async () => {
    await writer.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1n]);
    const failing = writer.transaction([
      { sql: 'UPDATE t SET v = 100 WHERE k = ?', params: ['a'], answer: 'run' },
      { sql: 'INSERT INTO t (k, v) VALUES (?, ?)', params: ['a', 2n], answer: 'run' }, // primary key taken
    ]);
    await expect(failing).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(await writer.get('SELECT v FROM t WHERE k = ?', ['a'])).toEqual({ v: 1n });
    const answers = await writer.transaction([
      { sql: 'UPDATE t SET v = v + 1 WHERE k = ?', params: ['a'], answer: 'run' },
      { sql: 'SELECT v FROM t WHERE k = ?', params: ['a'], answer: 'get' },
    ]);
    expect(answers).toEqual([1, { v: 2n }]);
  });

  it('starts again after close()', async () => {
    await writer.close();
    expect(await writer.get('SELECT v FROM t WHERE k = ?', ['a'])).toEqual({ v: 2n });
  });

  it('keeps a process alive while a statement is out, and not once idle', () => {
    // the child has nothing else on its event loop: it must still hear the answer, then end by itself
    const script = `
      const { SqliteWriterThread } = require(${JSON.stringify(DIST_WRITER)});
      const w = new SqliteWriterThread(${JSON.stringify(path)});
      w.get('SELECT v FROM t WHERE k = ?', ['a']).then((row) => process.stdout.write('answer ' + row.v));
    `;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.error).toBeUndefined(); // a timeout: the idle thread kept it alive
    expect(child.stdout).toBe('answer 2');
    expect(child.status).toBe(0);
  });
});
