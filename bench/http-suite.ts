import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt } from './measure';
import { BARE_FASTIFY_JS, EMPTY_NEST_JS, HttpRun, load, median, Service } from './http';

const STRATEGIES = ['segment', 'snowflake', 'uuidv7', 'partition'];
const sqliteEnv = () => ({ SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'idb-')), 'h.sqlite'), SEGMENT_DYNAMIC_STEP: 'true' });

function medianRun(runs: HttpRun[]): HttpRun {
  return {
    requests: median(runs.map((r) => r.requests)),
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    p999: median(runs.map((r) => r.p999)),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
  };
}

/**
 * Single-id throughput at 50 connections, interleaved A B C ... per round: bare Fastify and an
 * empty Nest controller (both started here, answering the same JSON) beside the service's
 * strategies on the embedded default. Then batches, a fixed-rate run, WORKERS=1 vs 2.
 */
export async function httpSuite(log: (s: string) => void, rounds = 3, seconds = 5): Promise<string[]> {
  const out: string[] = [];
  const bare = await Service.start({}, BARE_FASTIFY_JS);
  const nest = await Service.start({}, EMPTY_NEST_JS);
  const service = await Service.start(sqliteEnv());
  try {
    const targets: [string, string][] = [
      ['bare Fastify', `${bare.url}/ids/segment`],
      ['empty Nest controller', `${nest.url}/ids/segment`],
      ...STRATEGIES.map((s): [string, string] => [`service ${s}`, `${service.url}/ids/${s}`]),
    ];
    for (const [, url] of targets) await load(url, { seconds: 1 }); // warm up
    const runs = new Map<string, HttpRun[]>(targets.map(([name]) => [name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const [name, url] of targets) {
        log(`  single id: ${name}, round ${r + 1}/${rounds}`);
        runs.get(name)!.push(await load(url, { seconds }));
      }
    }
    const result = new Map([...runs].map(([name, list]) => [name, medianRun(list)]));
    const bareRps = result.get('bare Fastify')!.rps;
    const nestRps = result.get('empty Nest controller')!.rps;
    out.push(
      `## Single id over HTTP, 50 connections (median of ${rounds} interleaved ${seconds} s runs; load generator on the same 2 cores)`,
      '',
      '| target | req/s | p50 ms | p99 ms | p99.9 ms | vs bare Fastify | vs empty Nest | errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...[...result].map(
        ([name, r]) =>
          `| ${name} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${r.p999} | ${(r.rps / bareRps).toFixed(2)}x | ${(r.rps / nestRps).toFixed(2)}x | ${r.errors + r.non2xx} |`,
      ),
      '',
    );

    const batchRows: string[] = [];
    for (const strategy of STRATEGIES) {
      const single = result.get(`service ${strategy}`)!.rps;
      for (const count of [100, 1000]) {
        log(`  batch: ${strategy} count=${count}`);
        const r = await load(`${service.url}/ids/${strategy}?count=${count}`, { seconds: 3 });
        batchRows.push(
          `| ${strategy} | ${count} | ${fmt(r.rps)} | ${fmt(r.rps * count)} | ${((r.rps * count) / single).toFixed(1)}x | ${r.p99} | ${r.errors + r.non2xx} |`,
        );
      }
    }
    out.push(
      '## Batches, 50 connections (3 s each)',
      '',
      '| strategy | count | req/s | ids/s | ids/s vs single-id req/s | p99 ms | errors |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...batchRows,
      '',
    );

    const fixedRows: string[] = [];
    for (const [name, url] of targets) {
      log(`  fixed 10,000 req/s: ${name}`);
      const r = await load(url, { seconds, rate: 10_000 });
      fixedRows.push(`| ${name} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${r.p999} | ${r.errors + r.non2xx} |`);
    }
    out.push(
      `## Fixed 10,000 req/s, 50 connections (${seconds} s each)`,
      '',
      '| target | achieved req/s | p50 ms | p99 ms | p99.9 ms | errors |',
      '|---|---:|---:|---:|---:|---:|',
      ...fixedRows,
      '',
    );
  } finally {
    await Promise.all([bare.stop(), nest.stop(), service.stop()]);
  }

  // WORKERS=1 vs WORKERS=2 (on 2 cores shared with the load generator)
  const workers = new Map<number, HttpRun[]>([
    [1, []],
    [2, []],
  ]);
  const one = await Service.start(sqliteEnv());
  const two = await Service.start({ ...sqliteEnv(), WORKERS: '2' });
  try {
    await load(`${one.url}/ids/segment`, { seconds: 1 });
    await load(`${two.url}/ids/segment`, { seconds: 2 });
    for (let r = 0; r < 2; r++) {
      for (const [n, svc] of [
        [1, one],
        [2, two],
      ] as const) {
        log(`  WORKERS=${n}, round ${r + 1}/2`);
        workers.get(n)!.push(await load(`${svc.url}/ids/segment`, { seconds }));
      }
    }
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
  const w1 = medianRun(workers.get(1)!);
  const w2 = medianRun(workers.get(2)!);
  out.push(
    '## WORKERS=1 vs WORKERS=2: segment, single id, 50 connections',
    '',
    '| WORKERS | req/s | p99 ms | p99.9 ms | vs WORKERS=1 |',
    '|---:|---:|---:|---:|---:|',
    `| 1 | ${fmt(w1.rps)} | ${w1.p99} | ${w1.p999} | 1.00x |`,
    `| 2 | ${fmt(w2.rps)} | ${w2.p99} | ${w2.p999} | ${(w2.rps / w1.rps).toFixed(2)}x |`,
    '',
  );
  return out;
}
