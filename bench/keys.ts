import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import type * as Database from '@app/database';
import type * as Segment from '@app/segment';
import { fmt } from './measure';
import { drive as driveHttp, DriveResult } from './keys-client';

/**
 * The `keys` section (issue 27): one server process on MariaDB holding N keys, N = 1,000, 10,000
 * and 100,000 (BENCH_KEYS to change). BENCH_KEYS_SERVER runs another build's main.js (the code
 * before a change, for a before/after table). Per N: first use of every key over HTTP (50
 * callers: keep-alive connections with one request each, keys-client.ts, beside a known key's
 * rate with the same client: first use's ceiling, and the server's CPU per new key), then idle:
 * CPU of the server process (from /proc), rows the database read per poll period (MariaDB's
 * Rows_read: every client of that MariaDB counts, so run it on a quiet server), memory per key
 * (heap in use after a full collection, and RSS growth, over N), /metrics and the full
 * /admin/segments list (size, time), request rate spread over every key beside one key; last,
 * first use of N more keys with a deeper client (BENCH_KEYS_DEEP, 100x4: 100 connections, 4
 * requests pipelined on each). Before the server starts, first use in process (no HTTP) of N
 * other keys. BENCH_KEYS_DB / BENCH_KEYS_PORT move the database and port; BENCH_KEYS_NODE_ARGS
 * adds node options to the server (`--cpu-prof --cpu-prof-dir=DIR`: the phases' times are logged
 * on the profile's clock).
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
  const extra = (process.env.BENCH_KEYS_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...extra, '--expose-gc', '--require', MEM_HOOK, main], {
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

/** the client's shape: keep-alive connections x requests in flight on each */
interface Shape {
  connections: number;
  pipeline: number;
}
/** the issue's 50 concurrent callers, one request each */
const CALLERS_SHAPE: Shape = { connections: CALLERS, pipeline: 1 };
/** BENCH_KEYS_DEEP ("100x4"): a deeper client, first use again with more keys in flight (batches fill up) */
const DEEP_SHAPE: Shape = (([c, p]) => ({ connections: c, pipeline: p ?? 1 }))((process.env.BENCH_KEYS_DEEP ?? '100x4').split('x').map(Number));

/** GET path(i) for i = 0.. until `total` requests or `ms` elapsed; answers per second */
function drive(path: (i: number) => string, total: number, ms: number, shape = CALLERS_SHAPE, keepLatencies = false, until?: () => boolean): Promise<DriveResult> {
  return driveHttp('127.0.0.1', PORT, path, { ...shape, total, ms, keepLatencies, until });
}

interface FirstUse {
  perSecond: number;
  failed: number;
  /** the server process's CPU over first use, % of a core */
  serverBusy: number;
  /** the server's CPU time per new key, us */
  usPerKey: number;
}

/** each of `n` keys `prefix`0.. asked for once over HTTP */
async function firstUseOverHttp(pid: number, prefix: string, n: number, shape: Shape): Promise<FirstUse> {
  const cpu0 = cpuSeconds(pid);
  const at = Date.now();
  const r = await drive((i) => `/ids/segment?key=${prefix}${i}`, n, 600_000, shape);
  const cpu = cpuSeconds(pid) - cpu0;
  return { perSecond: r.perSecond, failed: r.failed, serverBusy: (cpu / ((Date.now() - at) / 1000)) * 100, usPerKey: (cpu / n) * 1e6 };
}

const shapeName = (s: Shape) => `${s.connections} x ${s.pipeline}`;
const firstUseCell = (f: FirstUse) =>
  `${fmt(f.perSecond)}${f.failed ? ` (${f.failed} failed)` : ''} (server ${f.serverBusy.toFixed(0)}% busy, ${f.usPerKey.toFixed(0)} us a key)`;

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
  // a build from before the store was shared by MySQL and PostgreSQL (the issue's own base): not measured in process
  if (openSqlPool === undefined || ServerSegmentStore === undefined) return NaN;
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
  // with BENCH_KEYS_NODE_ARGS (--cpu-prof, say): when each phase ran, on the clock a CPU profile's timestamps use (monotonic, us)
  const now = () => process.hrtime.bigint() / 1000n;
  const window = (what: string, from: bigint) => process.env.BENCH_KEYS_NODE_ARGS && log(`${what}: ${from}-${now()} us (monotonic)`);
  const main = process.env.BENCH_KEYS_SERVER ?? join(root, 'dist/apps/id-server/main.js');
  const counts = (process.env.BENCH_KEYS ?? '1000,10000,100000').split(',').map(Number);
  const conn = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  const lines = [
    `server: ${main}`,
    '',
    '| keys | first use over HTTP, 50 callers (keys/s) | a known key, same client (req/s) | first use in process (keys/s) | a key in use meanwhile (p99) | idle CPU (% of a core) | rows read per poll period (whole MariaDB) | heap per key (after a full GC) | RSS per key | many keys vs one key (req/s) | /metrics | /admin/segments (all) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const deepLines = [
    `First use again, N other keys, after the rest: a client with ${shapeName(DEEP_SHAPE)} (connections x pipelined requests) in flight beside the 50 callers above, each beside a known key's rate with the same client`,
    '',
    '| keys | client | a known key (req/s) | first use (keys/s) |',
    '|---|---|---|---|',
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
        await drive(() => '/ids/segment?key=default', Infinity, 2000); // warm the id path
        // what this client and the server's HTTP stack reach for a key already buffered: first use's ceiling
        const known = (await drive(() => '/ids/segment?key=default', Infinity, 3000)).perSecond;
        deepLines.push(`| ${n.toLocaleString('en-US')} | ${shapeName(CALLERS_SHAPE)} | ${fmt(known)} | `);
        const heapBefore = await heapAfterGc(server);
        const rssBefore = rssBytes(pid);
        // a key already in use, asked for by one caller throughout first use: its p99 says whether first use starves it
        let firstDone = false;
        const busyLoop = drive(() => '/ids/segment?key=default', Infinity, 600_000, { connections: 1, pipeline: 1 }, true, () => firstDone);
        const firstFrom = now();
        const first = await firstUseOverHttp(pid, 'key', n, CALLERS_SHAPE);
        firstDone = true;
        window('first use', firstFrom);
        deepLines[deepLines.length - 1] += `${firstUseCell(first)} |`;
        const busy = (await busyLoop).latencies!;
        const busyP99 = busy[Math.min(busy.length - 1, Math.floor(busy.length * 0.99))] ?? NaN;
        await sleep(3000); // preloads and the first key reads settle
        const cpu0 = cpuSeconds(pid);
        const rows0 = await rowsRead(conn);
        const idleMs = 10_000;
        const idleFrom = now();
        await sleep(idleMs);
        window('idle', idleFrom);
        const idleCpu = ((cpuSeconds(pid) - cpu0) / (idleMs / 1000)) * 100;
        const rowsPerPeriod = ((await rowsRead(conn)) - rows0) / (idleMs / 1000);
        const rssPerKey = (rssBytes(pid) - rssBefore) / n;
        const heapPerKey = ((await heapAfterGc(server)) - heapBefore) / n;
        const metricsFrom = now();
        const metrics = await timed('/metrics');
        window('/metrics', metricsFrom);
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
        // first use with a deeper client: N more keys, made now (the listing above counted N)
        for (let from = 0; from < n; from += 5000) {
          const rows = Array.from({ length: Math.min(5000, n - from) }, (_, i) => [`dp${from + i}`, 1, 1000, null]);
          await conn.query(`INSERT INTO ${DB}.leaf_alloc (biz_tag, max_id, step, description) VALUES ?`, [rows]);
        }
        const deepKnown = (await drive(() => '/ids/segment?key=default', Infinity, 3000, DEEP_SHAPE)).perSecond;
        const deep = await firstUseOverHttp(pid, 'dp', n, DEEP_SHAPE);
        deepLines.push(`| ${n.toLocaleString('en-US')} | ${shapeName(DEEP_SHAPE)} | ${fmt(deepKnown)} | ${firstUseCell(deep)} |`);
        log(deepLines[deepLines.length - 2]);
        log(deepLines[deepLines.length - 1]);
        lines.push(
          `| ${n.toLocaleString('en-US')} | ${firstUseCell(first)} | ${fmt(known)} | ${Number.isNaN(inProcess) ? 'n/a' : fmt(inProcess)} | ${busyP99.toFixed(1)} ms | ${idleCpu.toFixed(1)} | ${fmt(rowsPerPeriod)} | ${Math.round(heapPerKey)} B | ${(rssPerKey / 1024).toFixed(2)} KB | ${fmt(manyRate)} vs ${fmt(oneRate)} (${(manyRate / oneRate).toFixed(2)}x) | ${(metrics.bytes / 1024).toFixed(0)} KB, ${metrics.ms.toFixed(0)} ms | ${(list.bytes / 1024).toFixed(0)} KB, ${list.ms.toFixed(0)} ms |`,
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
  return ['## Many keys on MariaDB (one instance, SEGMENT_POLL_MS=1000)', '', ...lines, '', ...deepLines, ''];
}
