import { Worker } from 'node:worker_threads';
import { databaseUnavailable } from '@app/core';
import type { DataSource } from 'typeorm';
import { SQLITE_PRAGMAS } from './data-source-options';
import { sqliteUnavailable } from './sqlite-handle';

/** one statement for the writer: `get` answers its first row (or undefined), `run` its changes count */
export interface SqliteStatement {
  sql: string;
  params: unknown[];
  answer: 'get' | 'run';
}

/** runs in the worker: its own connection to the file, prepared statements kept by text */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
for (const pragma of workerData.pragmas) db.pragma(pragma);
const statements = new Map();
const execute = ({ sql, params, answer }) => {
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql);
    if (statement.reader) statement.safeIntegers(true);
    statements.set(sql, statement);
  }
  return answer === 'get' ? statement.get(...params) : statement.run(...params).changes;
};
const inTransaction = db.transaction((list) => list.map(execute));
parentPort.on('message', ({ id, list, transaction }) => {
  try {
    parentPort.postMessage({ id, answers: transaction ? inTransaction.immediate(list) : list.map(execute) });
  } catch (e) {
    parentPort.postMessage({ id, error: { message: String(e && e.message), code: e && e.code } });
  }
});
`;

interface Waiting {
  resolve(answers: unknown[]): void;
  reject(e: unknown): void;
}

/**
 * The writes that recur with traffic or time (segment and partition fetches, high-water marks,
 * halt targets, the snowflake lease renewal), run from a worker thread with its own connection to
 * the SQLite file. With synchronous=FULL every commit waits for an fsync (~6 ms here, 12 ms and
 * more under load); on the event loop that wait held every request behind it: a partition
 * fetch per 1,000 ids put 40 such waits a second into /alloc, and a lease renewal or a mark once
 * a second made the p99.9 at a fixed rate. The statements run the same, on the same file, with
 * the same pragmas (integers read as BigInt, as everywhere on SQLite); SQLite's locking orders
 * them against the event loop's own connection as it orders other processes. Only the waiting
 * moves off the loop. The thread starts on first use and after close(), and keeps the process
 * alive only while a statement is out.
 */
export class SqliteWriterThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly path: string) {}

  /** the statement's changes count */
  async run(sql: string, params: unknown[]): Promise<number> {
    const [changes] = await this.post([{ sql, params, answer: 'run' }], false);
    return changes as number;
  }

  /** the statement's first row, integers as BigInt */
  async get<T>(sql: string, params: unknown[]): Promise<T | undefined> {
    const [row] = await this.post([{ sql, params, answer: 'get' }], false);
    return row as T | undefined;
  }

  /** the statements in one IMMEDIATE transaction (all or none), each one's answer */
  transaction(list: SqliteStatement[]): Promise<unknown[]> {
    return this.post(list, true);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  private post(list: SqliteStatement[], transaction: boolean): Promise<unknown[]> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    // held while a statement is out, so a process awaiting one does not end under it
    if (this.waiting.size === 0) worker.ref();
    return new Promise<unknown[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, list, transaction });
    });
  }

  private start(): Worker {
    const worker = new Worker(SOURCE, {
      eval: true,
      workerData: { driver: require.resolve('better-sqlite3'), path: this.path, pragmas: SQLITE_PRAGMAS },
    });
    worker.on('message', (m: { id: number; answers?: unknown[]; error?: { message: string; code?: string } }) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      // mapped as the event loop's own statements are: busy, locked or I/O -> DATABASE_UNAVAILABLE
      if (m.error) w.reject(sqliteUnavailable(Object.assign(new Error(m.error.message), { code: m.error.code })));
      else w.resolve(m.answers ?? []);
    });
    const fail = (e: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(databaseUnavailable(e, 'the SQLite writer thread'));
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SQLite writer thread exited (${code})`)));
    // idle, it does not keep the process alive (after the listeners: attaching 'message' refs
    // the worker's port again)
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

/** the SQLite file under a DataSource, for a writer thread of its own */
export function sqliteWriterFor(dataSource: DataSource): SqliteWriterThread {
  const path = dataSource.options.database;
  if (typeof path !== 'string' || path === '' || path === ':memory:') throw new Error('SQLite writer: the database is not a file');
  return new SqliteWriterThread(path);
}
