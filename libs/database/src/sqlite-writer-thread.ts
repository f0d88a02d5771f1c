import { Worker } from 'node:worker_threads';
import { SQLITE_PRAGMAS } from './data-source-options';

/** runs in the worker: its own connection to the file, prepared statements kept by text */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
for (const pragma of workerData.pragmas) db.pragma(pragma);
const statements = new Map();
parentPort.on('message', ({ id, sql, params }) => {
  try {
    let statement = statements.get(sql);
    if (statement === undefined) statements.set(sql, (statement = db.prepare(sql)));
    parentPort.postMessage({ id, changes: statement.run(...params).changes });
  } catch (e) {
    parentPort.postMessage({ id, error: { message: String(e && e.message), code: e && e.code } });
  }
});
`;

interface Waiting {
  resolve(changes: number): void;
  reject(e: Error): void;
}

/**
 * Short periodic writes to the SQLite file (the snowflake lease renewal) from a worker thread with
 * its own connection. With synchronous=FULL every commit waits for an fsync (~6 ms here, 12 ms and
 * more under load); on the event loop that wait held every request behind it once a second and
 * made the p99.9 at a fixed rate. The statement runs the same, on the same file, with the same
 * pragmas; only the waiting moves off the loop. The thread starts on first use and ends with
 * close() (or the process: it does not keep it alive).
 */
export class SqliteWriterThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly path: string) {}

  /** the statement's changes count */
  run(sql: string, params: unknown[]): Promise<number> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, sql, params });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  private start(): Worker {
    const worker = new Worker(SOURCE, {
      eval: true,
      workerData: { driver: require.resolve('better-sqlite3'), path: this.path, pragmas: SQLITE_PRAGMAS },
    });
    worker.unref();
    worker.on('message', (m: { id: number; changes?: number; error?: { message: string; code?: string } }) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.error) w.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else w.resolve(m.changes ?? 0);
    });
    const fail = (e: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SQLite writer thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}
