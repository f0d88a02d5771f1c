import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { Client } from 'pg';
import { peerCandidates, ticketInProcess, uuidCandidates } from './in-process';
import { fmt, measure, table } from './measure';
import { clientSuite } from './client';
import { fpeCandidates } from './fpe';
import { keysSuite } from './keys';
import { httpSuite } from './http-suite';
import { edgeSuite } from './edge-suite';
import { snowflakeCandidates } from './snowflake';
import { refillInvisibility, RefillRow, segmentCandidates, ticketVsSegment, TicketRow } from './segment';

const log = (s: string) => process.stderr.write(s + '\n');

/** the database the MariaDB and PostgreSQL rows use, dropped and created again (BENCH_DB_NAME) */
const BENCH_DB = process.env.BENCH_DB_NAME ?? 'idalloc_bench';

async function mysqlBenchUrl(): Promise<string | undefined> {
  try {
    const conn = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root', connectTimeout: 2000 });
    await conn.query(`DROP DATABASE IF EXISTS ${BENCH_DB}`);
    await conn.query(`CREATE DATABASE ${BENCH_DB}`);
    await conn.end();
    return `mysql://root@127.0.0.1:3306/${BENCH_DB}`;
  } catch (e) {
    log(`MariaDB not reachable, its rows are left out: ${(e as Error).message}`);
    return undefined;
  }
}

async function postgresBenchUrl(): Promise<string | undefined> {
  const client = new Client({ host: '127.0.0.1', port: 5432, user: 'root', database: 'postgres', connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${BENCH_DB}`);
    await client.query(`CREATE DATABASE ${BENCH_DB}`);
    return `postgres://root@127.0.0.1:5432/${BENCH_DB}`;
  } catch (e) {
    log(`PostgreSQL not reachable, its rows are left out: ${(e as Error).message}`);
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function refillTable(rows: RefillRow[]): string {
  const lines = [
    '| database | step | req/s | p50 ms | p99 ms | p99.9 ms | p99.9 vs step 1,000,000 | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const base = rows.find((x) => x.dialect === r.dialect && x.step === 1_000_000)!;
    lines.push(
      `| ${r.dialect} | ${r.step.toLocaleString('en')} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${r.p999} | ${(r.p999 / base.p999).toFixed(2)}x | ${r.errors} |`,
    );
  }
  return lines.join('\n');
}

/** npm run bench: every figure beside its baseline from the same run. */
async function main(): Promise<void> {
  const started = Date.now();
  const only = process.argv.slice(2);
  const wants = (section: string) => only.length === 0 || only.includes(section);
  const sections: string[] = [];

  if (wants('inprocess')) {
    log('in-process generators');
    const rows = measure([...uuidCandidates(), ...(await segmentCandidates()), ...snowflakeCandidates(), ...peerCandidates()], { log });
    sections.push('## In-process ids/s (median of 5 interleaved rounds)', '', table(rows, 'crypto.randomUUID()'), '');
  }

  if (wants('public') || wants('inprocess')) {
    log('in-process: public (FF1) ids vs plain');
    const rows = measure(fpeCandidates(), { log, rounds: 3 });
    sections.push('## Unguessable ids: public (FF1) vs plain, in process (median of 3 interleaved rounds)', '', table(rows, 'plain sequence (decimal text)'), '');
  }

  if (wants('ticket-inprocess') || wants('inprocess')) {
    sections.push(...(await ticketInProcess(log)));
  }

  if (wants('http')) {
    log('HTTP suite');
    sections.push(...(await httpSuite(log)));
  }

  if (wants('edge')) {
    log('the id routes against bare Fastify: closed and open loop (BENCH_PAIRS, BENCH_OPEN_SECONDS, BENCH_WORKERS)');
    sections.push(...(await edgeSuite(log)));
  }

  if (wants('refill')) {
    log('refill invisibility (HTTP, 50 connections, single id)');
    const rows = await refillInvisibility('sqlite', { SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'idb-')), 'b.sqlite') }, log);
    const url = await mysqlBenchUrl();
    if (url) rows.push(...(await refillInvisibility('mariadb', { DATABASE_URL: url }, log)));
    const pgUrl = await postgresBenchUrl();
    if (pgUrl) rows.push(...(await refillInvisibility('postgresql', { DATABASE_URL: pgUrl }, log)));
    sections.push(
      '## Refill invisibility: segment, single id, 50 connections, dynamic step off (median of 3 interleaved 5 s runs)',
      '',
      refillTable(rows),
      '',
    );
  }

  if (wants('ticket')) {
    log('ticket vs segment (HTTP, 50 connections, single id)');
    const rows: TicketRow[] = await ticketVsSegment('sqlite', { SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'idb-')), 't.sqlite') }, log);
    const url = await mysqlBenchUrl();
    if (url) rows.push(...(await ticketVsSegment('mariadb', { DATABASE_URL: url }, log)));
    const pgUrl = await postgresBenchUrl();
    if (pgUrl) rows.push(...(await ticketVsSegment('postgresql', { DATABASE_URL: pgUrl }, log)));
    const lines = ['| database | strategy | req/s | p99 ms | vs ticket | errors |', '|---|---|---:|---:|---:|---:|'];
    for (const r of rows) {
      const base = rows.find((x) => x.dialect === r.dialect && x.strategy === 'ticket')!;
      lines.push(`| ${r.dialect} | ${r.strategy} | ${fmt(r.rps)} | ${r.p99} | ${(r.rps / base.rps).toFixed(1)}x | ${r.errors} |`);
    }
    sections.push('## What buffering buys: ticket (a round trip per id) vs segment, single id, 50 connections', '', lines.join('\n'), '');
  }

  if (wants('client')) {
    log('Node client against one server');
    sections.push(...(await clientSuite(log, Number(process.env.BENCH_CLIENT_SECONDS ?? 2))));
  }

  if (only.includes('keys')) {
    log('many keys on MariaDB (only when asked: npm run bench -- keys)');
    sections.push(...(await keysSuite(log, join(__dirname, '../..'))));
  }

  const report = [
    '# id-allocator benchmark',
    '',
    `Node ${process.version}, ${new Date().toISOString()}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); took ${Math.round((Date.now() - started) / 1000)} s`,
    '',
    ...sections,
  ].join('\n');
  const dir = join(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, only.length ? `latest-${only.join('-')}.md` : 'latest.md'), report + '\n');
  process.stdout.write(report + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
