import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import type * as Database from '@app/database';
import type * as Segment from '@app/segment';
import { fmt } from './measure';

/**
 * The `keys` section (issue 27): one server process on MariaDB holding N keys, N = 1,000, 10,000
 * and 100,000 (BENCH_KEYS to change). BENCH_KEYS_SERVER runs another build's main.js (the code
 * before a change, for a before/after table). Per N: first use of every key (50 concurrent
 * callers, each key asked for once), then idle: CPU of the server process (from /proc), rows
 * the database read per poll period (MariaDB's Rows_read: every client of that MariaDB counts, so
 * run it on a quiet server), memory per key (heap in use after a full collection, and RSS growth,
 * over N), /metrics and the full /admin/segments list (size, time), and request rate spread over
 * every key beside one key. Before the server starts, first use in process (no HTTP) of N other
 * keys. BENCH_KEYS_DB / BENCH_KEYS_PORT move the database and port.
 */
const ADMIN_TOKEN = 'bench-keys-admin-token-0123';
/** BENCH_KEYS_DB / BENCH_KEYS_PORT: another database and port, for runs beside other users of the same MariaDB and host */
const DB = process.env.BENCH_KEYS_DB ?? 'idalloc_bench_keys';
const PORT = Number(process.env.BENCH_KEYS_PORT ?? 18427);
const CALLERS = 50;

type Log = (s: string) => void;

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ 100)
}
function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const url = (path: string) => `http://127.0.0.1:${PORT}${path}`;

async function rowsRead(conn: Awaited<ReturnType<typeof createConnection>>): Promise<number> {
  const [rows] = await conn.query("SHOW GLOBAL STATUS LIKE 'Rows_read'");
  return Number((rows as { Value: string }[])[0].Value);
}

/**
 * Loaded into the server: on SIGUSR2 a full collection, then its memory written to a file. RSS
 * growth alone counts garbage not yet collected and heap the collector keeps committed.
 */
const MEM_HOOK = join(tmpdir(), `bench-keys-mem-hook-${process.pid}.js`);
const MEM_FILE = join(tmpdir(), `bench-keys-mem-${process.pid}.json`);
writeFileSync(
  MEM_HOOK,
  "process.on('SIGUSR2', () => { global.gc(); global.gc(); require('fs').writeFileSync(process.env.BENCH_MEM_FILE, JSON.stringify(process.memoryUsage())); });\n",
);

/** the server's heap in use after a full collection, bytes */
async function heapAfterGc(child: ChildProcess): Promise<number> {
  rmSync(MEM_FILE, { force: true });
  child.kill('SIGUSR2');
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    try {
      return (JSON.parse(readFileSync(MEM_FILE, 'utf8')) as { heapUsed: number }).heapUsed;
    } catch {
      /* not written yet */
    }
  }
  return NaN;
}

async function startServer(main: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--expose-gc', '--require', MEM_HOOK, main], {
    env: {
      ...process.env,
      BENCH_MEM_FILE: MEM_FILE,
      PORT: String(PORT),
      HOST: '127.0.0.1',
      DATABASE_URL: `mysql://root@127.0.0.1:3306/${DB}`,
      ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      SEGMENT_POLL_MS: '1000',
      WORKERS: '1',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url('/health/ready'))).status === 200) return child;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('server did not become ready');
}

/** `callers` loops asking `path(i)` for i = 0.. until `total` requests or `ms` elapsed; requests per second */
async function drive(path: (i: number) => string, total: number, ms: number): Promise<{ perSecond: number; failed: number }> {
  let next = 0;
  let done = 0;
  let failed = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < total && Date.now() - started < ms) {
        const res = await fetch(url(path(next++)));
        await res.arrayBuffer();
        if (res.status === 200) done++;
        else failed++;
      }
    }),
  );
  return { perSecond: done / ((Date.now() - started) / 1000), failed };
}

async function timed(path: string, headers: Record<string, string> = {}): Promise<{ bytes: number; ms: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    const res = await fetch(url(path), { headers });
    bytes = (await res.arrayBuffer()).byteLength;
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { bytes, ms: times.sort((a, b) => a - b)[1] };
}

/**
 * First use without HTTP: a SegmentGenerator over the MariaDB store in this process, `n` keys
 * never used, each asked for once by `CALLERS * 4` concurrent callers. What the mechanism (lookups and
 * first fetches batched) sustains, apart from what one process's HTTP stack does. The library
 * comes from the build `main` belongs to (BENCH_KEYS_SERVER: the code before a change).
 */
async function firstUseInProcess(main: string, n: number, prefix: string): Promise<number> {
  const dist = join(dirname(main), '../..');
  const { openSqlPool } = require(join(dist, 'libs/database/src')) as typeof Database;
  const { readServerSegmentTable, SegmentGenerator, ServerSegmentStore } = require(join(dist, 'libs/segment/src')) as typeof Segment;
  const pool = openSqlPool(`mysql://root@127.0.0.1:3306/${DB}`);
  const store = new ServerSegmentStore(pool, await readServerSegmentTable(pool, 'leaf_alloc'));
  const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined };
  const generator = new SegmentGenerator(store, {
    preload: 0.1,
    waitMs: 30_000,
    stepMax: 1_000_000,
    dynamicStep: true,
    pollMs: 1000,
    statementBudgetMs: 5000,
    log: quiet,
  });
  try {
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CALLERS * 4 }, async () => {
        while (next < n) await generator.next(`${prefix}${next++}`, 1);
      }),
    );
    return n / ((Date.now() - started) / 1000);
  } finally {
    generator.close();
    await pool.end();
  }
}

export async function keysSuite(log: Log, root: string): Promise<string[]> {
  const main = process.env.BENCH_KEYS_SERVER ?? join(root, 'dist/apps/id-server/main.js');
  const counts = (process.env.BENCH_KEYS ?? '1000,10000,100000').split(',').map(Number);
  const conn = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  const lines = [
    `server: ${main}`,
    '',
    '| keys | first use (keys/s) | first use in process (keys/s) | a key in use meanwhile (p99) | idle CPU (% of a core) | rows read per poll period (whole MariaDB) | heap per key (after a full GC) | RSS per key | many keys vs one key (req/s) | /metrics | /admin/segments (all) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  try {
    for (const n of counts) {
      await conn.query(`DROP DATABASE IF EXISTS ${DB}`);
      await conn.query(`CREATE DATABASE ${DB}`);
      let server = await startServer(main); // runs the migrations
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      for (let from = 0; from < n; from += 5000) {
        const rows = Array.from({ length: Math.min(5000, n - from) }, (_, i) => [`key${from + i}`, 1, 1000, null]);
        rows.push(...rows.map(([key]) => [`ip${String(key).slice(3)}`, 1, 1000, null])); // for firstUseInProcess
        await conn.query(`INSERT INTO ${DB}.leaf_alloc (biz_tag, max_id, step, description) VALUES ?`, [rows]);
      }
      // before the server starts: the machine to itself
      const inProcess = await firstUseInProcess(main, n, 'ip');
      await conn.query(`DELETE FROM ${DB}.leaf_alloc WHERE biz_tag LIKE 'ip%'`); // the listing below counts the N keys alone
      server = await startServer(main);
      const pid = server.pid!;
      try {
        await drive(() => '/ids/segment?key=default', 2000, 10_000); // warm the id path
        const heapBefore = await heapAfterGc(server);
        const rssBefore = rssBytes(pid);
        // a key already in use, asked for by one caller throughout first use: its p99 says whether first use starves it
        let firstDone = false;
        const busy: number[] = [];
        const busyLoop = (async () => {
          while (!firstDone) {
            const t = process.hrtime.bigint();
            await (await fetch(url('/ids/segment?key=default'))).arrayBuffer();
            busy.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
        })();
        const first = await drive((i) => `/ids/segment?key=key${i}`, n, 600_000);
        firstDone = true;
        await busyLoop;
        busy.sort((a, b) => a - b);
        const busyP99 = busy[Math.min(busy.length - 1, Math.floor(busy.length * 0.99))] ?? NaN;
        await sleep(3000); // preloads and the first key reads settle
        const cpu0 = cpuSeconds(pid);
        const rows0 = await rowsRead(conn);
        const idleMs = 10_000;
        await sleep(idleMs);
        const idleCpu = ((cpuSeconds(pid) - cpu0) / (idleMs / 1000)) * 100;
        const rowsPerPeriod = ((await rowsRead(conn)) - rows0) / (idleMs / 1000);
        const rssPerKey = (rssBytes(pid) - rssBefore) / n;
        const heapPerKey = ((await heapAfterGc(server)) - heapBefore) / n;
        const metrics = await timed('/metrics');
        const list = await timed('/admin/segments', { authorization: `Bearer ${ADMIN_TOKEN}` });
        // the same client, one key then every key in turn, taking turns twice
        const one: number[] = [];
        const many: number[] = [];
        for (let round = 0; round < 2; round++) {
          one.push((await drive(() => '/ids/segment?key=key0', Infinity, 3000)).perSecond);
          many.push((await drive((i) => `/ids/segment?key=key${i % n}`, Infinity, 3000)).perSecond);
        }
        const oneRate = Math.max(...one);
        const manyRate = Math.max(...many);
        lines.push(
          `| ${n.toLocaleString('en-US')} | ${fmt(first.perSecond)}${first.failed ? ` (${first.failed} failed)` : ''} | ${fmt(inProcess)} | ${busyP99.toFixed(1)} ms | ${idleCpu.toFixed(1)} | ${fmt(rowsPerPeriod)} | ${Math.round(heapPerKey)} B | ${(rssPerKey / 1024).toFixed(2)} KB | ${fmt(manyRate)} vs ${fmt(oneRate)} (${(manyRate / oneRate).toFixed(2)}x) | ${(metrics.bytes / 1024).toFixed(0)} KB, ${metrics.ms.toFixed(0)} ms | ${(list.bytes / 1024).toFixed(0)} KB, ${list.ms.toFixed(0)} ms |`,
        );
        log(lines[lines.length - 1]);
      } finally {
        server.kill('SIGTERM');
        await new Promise((r) => server.once('exit', r));
      }
    }
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${DB}`);
    await conn.end();
  }
  return ['## Many keys on MariaDB (one instance, SEGMENT_POLL_MS=1000)', '', ...lines, ''];
}
