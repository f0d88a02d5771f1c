import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt } from './measure';
import { BARE_FASTIFY_JS, median, pinned, Service } from './http';
import type { LoadResult } from './load-client';

const LOAD_CLIENT_JS = join(__dirname, 'load-client.js');
const ROUTES = [
  ['segment', '/ids/segment'],
  ['snowflake', '/ids/snowflake'],
  ['/alloc', '/alloc'],
] as const;

export interface EdgeOptions {
  pairs: number;
  closedSeconds: number;
  openSeconds: number;
  connections: number;
  workers: number[];
  /** open-loop rates, req/s (BENCH_RATES; empty: closed loop only) */
  rates: number[];
  /** side-by-side rounds (BENCH_SIDE_ROUNDS; 0: none) */
  sideRounds: number;
}

export const edgeOptionsFromEnv = (): EdgeOptions => ({
  pairs: Number(process.env.BENCH_PAIRS ?? 5),
  closedSeconds: Number(process.env.BENCH_CLOSED_SECONDS ?? 3),
  openSeconds: Number(process.env.BENCH_OPEN_SECONDS ?? 4),
  connections: 50,
  // empty: none (the side-by-side section alone)
  workers: (process.env.BENCH_WORKERS ?? '1,2').split(',').filter((w) => w !== '').map(Number),
  rates: (process.env.BENCH_RATES ?? '2000,5000,8000').split(',').filter((r) => r !== '').map(Number),
  sideRounds: Number(process.env.BENCH_SIDE_ROUNDS ?? 5),
});

/** One run of the load generator in its own process, pinned to the last CPU: one result per URL (several take turns, see load-client) */
function generate(urls: string[], mode: 'open' | 'closed', rate: number, seconds: number, connections: number, warmupSeconds = 0.5): Promise<LoadResult[]> {
  const cpu = String(availableParallelism() - 1);
  const [command, args] = pinned(cpu, [process.execPath, LOAD_CLIENT_JS, urls.join(','), mode, String(rate), String(seconds), String(connections), String(warmupSeconds)]);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult[]) : reject(new Error(`load client exited ${code}`))));
  });
}

interface Pairs {
  bare: LoadResult[];
  service: LoadResult[];
  /** service / bare, per pair */
  ratios: number[];
}

/**
 * n interleaved pairs: in each, bare and service take turns in slices of a quarter second within
 * one generator run (see load-client), the one that starts flipped every pair, so the VM's drift
 * over seconds lands on both alike instead of on one side of a pair
 */
async function pairs(n: number, run: (order: ('bare' | 'service')[]) => Promise<LoadResult[]>, ratio: (s: LoadResult, b: LoadResult) => number): Promise<Pairs> {
  const out: Pairs = { bare: [], service: [], ratios: [] };
  for (let i = 0; i < n; i++) {
    const order: ('bare' | 'service')[] = i % 2 === 0 ? ['bare', 'service'] : ['service', 'bare'];
    const results = await run(order);
    const got = { [order[0]]: results[0], [order[1]]: results[1] } as Record<'bare' | 'service', LoadResult>;
    out.bare.push(got.bare);
    out.service.push(got.service);
    out.ratios.push(ratio(got.service, got.bare));
  }
  return out;
}

const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : '-');
const spread = (values: number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;
const med = (list: LoadResult[], f: (r: LoadResult) => number) => median(list.map(f));
const bad = (list: LoadResult[]) => list.reduce((n, r) => n + r.non2xx + r.errors + r.unanswered, 0);
/** median p50 / p99 / p99.9 of a list of open-loop runs */
const lat = (list: LoadResult[]) => `${ms(med(list, (r) => r.p50))} / ${ms(med(list, (r) => r.p99))} / ${ms(med(list, (r) => r.p999))}`;

/**
 * The id routes against bare Fastify answering the same JSON, in one run: closed-loop throughput
 * and open-loop latency at fixed rates, as medians of interleaved A/B pairs with their spread.
 * The service (WORKERS=1) is pinned to CPU 0 and the generator to the last CPU; with WORKERS=2
 * the service is not pinned (and shares the generator's CPU on a 2-core machine).
 */
export async function edgeSuite(log: (s: string) => void, options: EdgeOptions = edgeOptionsFromEnv()): Promise<string[]> {
  const closedRows: string[] = [];
  const openRows: string[] = [];
  for (const workers of options.workers) {
    const serverCpus = workers === 1 && availableParallelism() > 1 ? '0' : undefined;
    const env = { WORKERS: String(workers) };
    const bare = await Service.start(env, BARE_FASTIFY_JS, serverCpus);
    const service = await Service.start({ ...env, SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'idb-')), 'edge.sqlite') }, undefined, serverCpus);
    const url = (target: 'bare' | 'service', path: string) => (target === 'bare' ? bare.url : service.url) + path;
    try {
      for (const [, path] of ROUTES) {
        await generate([url('bare', path), url('service', path)], 'closed', 0, 1, options.connections);
      }
      for (const [name, path] of ROUTES) {
        log(`  closed loop: ${name}, WORKERS=${workers}, ${options.pairs} pairs`);
        const p = await pairs(
          options.pairs,
          (order) => generate(order.map((t) => url(t, path)), 'closed', 0, options.closedSeconds, options.connections),
          (s, b) => s.achieved / b.achieved,
        );
        closedRows.push(
          `| ${name} | ${workers} | ${fmt(med(p.bare, (r) => r.achieved))} | ${fmt(med(p.service, (r) => r.achieved))} | **${median(p.ratios).toFixed(2)}x** | ${spread(p.ratios)} | ${ms(med(p.service, (r) => r.p999))} / ${ms(med(p.bare, (r) => r.p999))} | ${ms(Math.max(...[...p.bare, ...p.service].map((r) => r.loopLagMax)))} | ${bad(p.bare) + bad(p.service)} |`,
        );
      }
      for (const rate of options.rates) {
        for (const [name, path] of ROUTES) {
          log(`  open loop: ${name}, WORKERS=${workers}, ${rate} req/s, ${options.pairs} pairs`);
          const p = await pairs(
            options.pairs,
            (order) => generate(order.map((t) => url(t, path)), 'open', rate, options.openSeconds, options.connections),
            (s, b) => s.p999 / b.p999,
          );
          openRows.push(
            `| ${name} | ${workers} | ${fmt(rate)} | ${lat(p.service)} | ${lat(p.bare)} | ${fmt(med(p.service, (r) => r.achieved))} / ${fmt(med(p.bare, (r) => r.achieved))} | **${median(p.ratios).toFixed(2)}x** | ${spread(p.ratios)} | ${ms(med([...p.bare, ...p.service], (r) => r.loopLagP99))} / ${ms(Math.max(...[...p.bare, ...p.service].map((r) => r.loopLagMax)))} | ${bad(p.bare) + bad(p.service)} |`,
          );
        }
      }
    } finally {
      await Promise.all([bare.stop(), service.stop()]);
    }
  }
  const side = options.sideRounds > 0 && existsSync('/proc/self/stat') && availableParallelism() > 1 ? await sideBySide(log, options) : [];
  // BENCH_WORKERS empty: the side-by-side section alone, not two empty tables
  if (options.workers.length === 0) return side;
  return [
    `## The id routes against bare Fastify: closed loop, ${options.connections} connections (median of ${options.pairs} interleaved A/B pairs: in each, the two take turns in 250 ms slices, ${options.closedSeconds} s each)`,
    '',
    'Service on the embedded SQLite default; bare Fastify answers the same JSON. WORKERS=1: server pinned to CPU 0, generator (its own process) to the last CPU.',
    '',
    '| route | WORKERS | bare Fastify req/s | service req/s | service / bare | spread (min-max) | p99.9 ms service / bare | generator loop lag max ms | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...closedRows,
    '',
    // a closed-loop-only run (BENCH_RATES empty) says nothing about the open loop, not an empty table
    ...(options.rates.length === 0 ? [] : openSection(options, openRows)),
    ...side,
  ];
}

/** CPU time a process (all its threads) has used, in clock ticks (Linux: /proc/PID/stat) */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

/**
 * Both targets at once, WORKERS=1, both pinned to CPU 0, each loaded by its own closed-loop
 * generator on the last CPU: the scheduler shares CPU 0 between them, and whatever the VM does
 * to that CPU (steal, a slower host) hits both in the same seconds. Requests answered per CPU
 * second of each server process (all its threads) compare their cost per request; this ratio
 * repeats within a few percent where pairs run one after the other spread 0.6-1.6x. Then the open
 * loop: both at the same fixed rate at once, their p99.9 compared round by round, so a stall of
 * the VM lands in both tails instead of in one side of a pair.
 */
async function sideBySide(log: (s: string) => void, options: EdgeOptions): Promise<string[]> {
  const closedRows: string[] = [];
  const openRows: string[] = [];
  const bare = await Service.start({ WORKERS: '1' }, BARE_FASTIFY_JS, '0');
  const service = await Service.start({ WORKERS: '1', SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'idb-')), 'side.sqlite') }, undefined, '0');
  try {
    for (const [name, path] of ROUTES) {
      log(`  side by side: ${name}, closed loop, ${options.sideRounds} rounds`);
      // closed: no warm-up inside a round, its answers are counted against the CPU time of the whole round
      const both = (mode: 'open' | 'closed', rate: number, seconds: number) =>
        Promise.all([
          generate([bare.url + path], mode, rate, seconds, options.connections, mode === 'closed' ? 0 : 0.5),
          generate([service.url + path], mode, rate, seconds, options.connections, mode === 'closed' ? 0 : 0.5),
        ]).then(([[b], [s]]) => [b, s] as const);
      await both('closed', 0, 2);
      const efficiency: number[] = [];
      const throughput: number[] = [];
      const perCpu = { bare: [] as number[], service: [] as number[] };
      let errors = 0;
      for (let i = 0; i < options.sideRounds; i++) {
        const before = [cpuTicks(bare.child.pid!), cpuTicks(service.child.pid!)];
        const [b, s] = await both('closed', 0, options.closedSeconds);
        const ticks = [cpuTicks(bare.child.pid!) - before[0], cpuTicks(service.child.pid!) - before[1]];
        efficiency.push(s.achieved / ticks[1] / (b.achieved / ticks[0]));
        throughput.push(s.achieved / b.achieved);
        perCpu.bare.push(b.achieved);
        perCpu.service.push(s.achieved);
        errors += bad([b, s]);
      }
      closedRows.push(
        `| ${name} | ${fmt(median(perCpu.bare))} | ${fmt(median(perCpu.service))} | **${median(efficiency).toFixed(2)}x** | ${spread(efficiency)} | ${median(throughput).toFixed(2)}x | ${errors} |`,
      );
      for (const rate of options.rates) {
        log(`  side by side: ${name}, ${rate} req/s each, ${options.sideRounds} rounds`);
        const runs = { bare: [] as LoadResult[], service: [] as LoadResult[] };
        const ratios: number[] = [];
        for (let i = 0; i < options.sideRounds; i++) {
          const [b, s] = await both('open', rate, options.openSeconds);
          runs.bare.push(b);
          runs.service.push(s);
          ratios.push(s.p999 / b.p999);
        }
        openRows.push(
          `| ${name} | ${fmt(rate)} | ${lat(runs.service)} | ${lat(runs.bare)} | **${median(ratios).toFixed(2)}x** | ${spread(ratios)} | ${bad(runs.bare) + bad(runs.service)} |`,
        );
      }
    }
  } finally {
    await Promise.all([bare.stop(), service.stop()]);
  }
  return [
    `## The id routes against bare Fastify side by side: both at once on CPU 0, closed loop, ${options.connections} connections each (median of ${options.sideRounds} rounds of ${options.closedSeconds} s)`,
    '',
    'WORKERS=1; the two servers share CPU 0, their generators the last CPU. Requests per CPU second is each server process\'s answers divided by the CPU time it used in the same window.',
    '',
    '| route | bare Fastify req/s | service req/s | service / bare, requests per CPU second | spread (min-max) | service / bare, req/s | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...closedRows,
    '',
    ...(openRows.length === 0
      ? []
      : [
          `Open loop side by side: each server at the same fixed rate at once (latency from the scheduled send time; median of ${options.sideRounds} rounds of ${options.openSeconds} s). CPU 0 serves both rates.`,
          '',
          '| route | rate req/s (each) | service p50 / p99 / p99.9 ms | bare p50 / p99 / p99.9 ms | p99.9 service / bare | spread (min-max) | errors |',
          '|---|---:|---:|---:|---:|---:|---:|',
          ...openRows,
          '',
        ]),
  ];
}

function openSection(options: EdgeOptions, openRows: string[]): string[] {
  return [
    `## The id routes against bare Fastify: open loop at fixed rates, latency from the scheduled send time (median of ${options.pairs} interleaved A/B pairs: in each, the two take turns in 250 ms slices, ${options.openSeconds} s each)`,
    '',
    '| route | WORKERS | rate req/s | service p50 / p99 / p99.9 ms | bare p50 / p99 / p99.9 ms | achieved service / bare | p99.9 service / bare | spread (min-max) | generator loop lag p99 / max ms | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...openRows,
    '',
  ];
}
