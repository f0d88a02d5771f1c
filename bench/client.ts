import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { IdClient } from '@app/client';
import { FixedBatchClient } from './fixed-batch-client';
import { Service } from './http';
import { fmt } from './measure';

/**
 * The Node client against one real server (SQLite, segment key `default`), same run: today's
 * fixed-batch client beside the adaptive one, with ranges and with id lists. Each scenario gets
 * a fresh client and an unmeasured warm-up of the same scenario first.
 */

interface Subject {
  next(): Promise<string>;
  tryNext?(): string | undefined;
  close(): void;
}

interface Candidate {
  name: string;
  make(url: string): Subject;
}

const candidates: Candidate[] = [
  {
    name: 'fixed batch 1000 (before)',
    make: (url) => {
      const c = new FixedBatchClient({ baseUrls: [url], batchSize: 1000, refillBelow: 0.5 });
      return { next: () => c.next('segment'), close: () => undefined };
    },
  },
  {
    name: 'adaptive, id lists',
    make: (url) => adaptive(new IdClient({ baseUrls: [url], rangeAnswers: false })),
  },
  {
    name: 'adaptive, ranges',
    make: (url) => adaptive(new IdClient({ baseUrls: [url] })),
  },
];

function adaptive(c: IdClient): Subject {
  return { next: () => c.next('segment'), tryNext: () => c.tryNext('segment'), close: () => c.close() };
}

/** latencies in us: 0.01 us steps below 10 us, 1% steps above; the max kept exactly */
class Histogram {
  private readonly linear = new Float64Array(1000);
  private readonly log = new Float64Array(2000);
  count = 0;
  max = 0;
  record(us: number): void {
    this.count++;
    if (us > this.max) this.max = us;
    if (us < 10) this.linear[Math.floor(us * 100)]++;
    else this.log[Math.min(1999, Math.floor(Math.log(us / 10) / Math.log(1.01)))]++;
  }
  percentile(p: number): number {
    let rank = Math.ceil(this.count * p);
    for (let i = 0; i < 1000; i++) if ((rank -= this.linear[i]) <= 0) return (i + 1) / 100;
    for (let i = 0; i < 2000; i++) if ((rank -= this.log[i]) <= 0) return Math.min(this.max, 10 * 1.01 ** (i + 1));
    return this.max;
  }
}

interface Row {
  candidate: string;
  scenario: string;
  idsPerSecond: number;
  latency: Histogram;
  /** paced runs: how late the demand loop got to its schedule (event-loop stalls), us */
  late?: Histogram;
}

let sink = 0;
const use = (id: string) => (sink += id.length);

async function closedLoop(subject: Subject, callers: number, ms: number, sync: boolean, timed: boolean): Promise<{ ids: number; latency: Histogram }> {
  const latency = new Histogram();
  const deadline = performance.now() + ms;
  let ids = 0;
  const caller = async () => {
    let n = 0;
    while (true) {
      for (let i = 0; i < 256; i++) {
        const t0 = timed ? performance.now() : 0;
        let id = sync ? subject.tryNext!() : undefined;
        if (id === undefined) id = await subject.next();
        if (timed) latency.record((performance.now() - t0) * 1000);
        use(id);
      }
      n += 256;
      if (performance.now() >= deadline) break;
      // several callers take turns; one alone would never yield between ids otherwise
      if (callers > 1) await undefined;
    }
    ids += n;
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  const elapsed = performance.now() - started;
  return { ids: (ids / elapsed) * 1000, latency };
}

/**
 * Open loop: demand i is due at t0 + i / rate; each turn of the event loop (setImmediate) takes
 * the ids that have come due, timing each call, and records how late the turn came to the oldest.
 */
function paced(subject: Subject, rate: number, ms: number, sync: boolean): Promise<{ ids: number; latency: Histogram; late: Histogram }> {
  const latency = new Histogram();
  const late = new Histogram();
  const perMs = rate / 1000;
  const t0 = performance.now();
  let done = 0;
  return new Promise((resolve, reject) => {
    const turn = async () => {
      const now = performance.now();
      const due = Math.min(Math.floor((now - t0) * perMs), Math.floor(ms * perMs));
      if (due > done) late.record((now - (t0 + done / perMs)) * 1000);
      while (done < due) {
        const s = performance.now();
        let id = sync ? subject.tryNext!() : undefined;
        if (id === undefined) id = await subject.next();
        latency.record((performance.now() - s) * 1000);
        use(id);
        done++;
      }
      if (now - t0 >= ms) resolve({ ids: done / (ms / 1000), latency, late });
      else setImmediate(() => turn().catch(reject));
    };
    setImmediate(() => turn().catch(reject));
  });
}

/** what one refill of 10,000 ids costs the caller's thread, by answer format */
function refillCost(): string[] {
  const ids = Array.from({ length: 10_000 }, (_, i) => String(1_000_000 + i));
  const list = JSON.stringify({ strategy: 'segment', key: 'default', ids });
  const ranges = JSON.stringify({ strategy: 'segment', key: 'default', ranges: [['1000000', '1009999']] });
  const cloned = serialize(ids);
  const time = (f: () => unknown) => {
    const samples: number[] = [];
    for (let r = 0; r < 200; r++) {
      const s = performance.now();
      f();
      samples.push((performance.now() - s) * 1000);
    }
    samples.sort((a, b) => a - b);
    return samples[100];
  };
  const rows: [string, number][] = [
    ['JSON list parsed on the caller thread (today)', time(() => JSON.parse(list))],
    ['list parsed on a worker, received by structured clone (v8.deserialize)', time(() => deserialize(cloned))],
    ['format=ranges parsed on the caller thread', time(() => JSON.parse(ranges))],
  ];
  const base = rows[0][1];
  return [
    '| refill of 10,000 ids | us on the caller thread (median of 200) | vs JSON list |',
    '|---|---:|---:|',
    ...rows.map(([what, us]) => `| ${what} | ${us.toFixed(1)} | ${(us / base).toFixed(3)}x |`),
  ];
}

const us = (h: Histogram | undefined, p: number | 'max') =>
  h === undefined || h.count === 0 ? '' : (p === 'max' ? h.max : h.percentile(p)).toFixed(2);

interface Scenario {
  name: string;
  sync: boolean;
  /** closed loop with this many callers, or open loop at this rate */
  callers?: number;
  rate?: number;
}

function scenarios(): Scenario[] {
  const list: Scenario[] = [];
  for (const sync of [false, true]) {
    const method = sync ? 'tryNext()' : 'next()';
    list.push(
      { name: `1 caller, tight loop, ${method}`, sync, callers: 1 },
      { name: `100 callers, tight loop, ${method}`, sync, callers: 100 },
      { name: `steady 100k ids/s, ${method}`, sync, rate: 100_000 },
      { name: `steady 1M ids/s, ${method}`, sync, rate: 1_000_000 },
    );
  }
  return list;
}

export async function clientSuite(log: (s: string) => void, seconds = 2): Promise<string[]> {
  const service = await Service.start({ SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'idb-client-')), 'c.sqlite') });
  const ms = seconds * 1000;
  const warm = 500;
  const rows: Row[] = [];
  try {
    for (const sc of scenarios()) {
      for (const c of candidates) {
        const subject = c.make(service.url);
        if (sc.sync && subject.tryNext === undefined) continue;
        log(`  client: ${sc.name}: ${c.name}`);
        const run = (measured: boolean, timed = true) =>
          sc.rate !== undefined
            ? paced(subject, sc.rate, measured ? ms : warm, sc.sync)
            : closedLoop(subject, sc.callers!, measured ? ms : warm, sc.sync, timed);
        try {
          await run(false); // warm-up: the adaptive client learns the demand
          const measured: { ids: number; latency: Histogram; late?: Histogram } = await run(true);
          // a tight loop's ids/s without timing each call (timing costs about as much as an id)
          if (sc.rate === undefined) measured.ids = (await run(true, false)).ids;
          rows.push({ candidate: c.name, scenario: sc.name, idsPerSecond: measured.ids, latency: measured.latency, late: measured.late });
        } finally {
          subject.close();
        }
      }
    }
  } finally {
    await service.stop();
  }
  const lines = [
    '| scenario | client | ids/s | p50 us | p99.9 us | max us | loop late p99.9 us | loop late max us |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.scenario} | ${r.candidate} | ${fmt(r.idsPerSecond)} | ${us(r.latency, 0.5)} | ${us(r.latency, 0.999)} | ${us(r.latency, 'max')} | ${us(r.late, 0.999)} | ${us(r.late, 'max')} |`,
    );
  }
  return [
    `## Node client: ids/s and latency of one call, one server (SQLite, segment), ${seconds} s per row after a warm-up`,
    '',
    'Tight loops: ids/s untimed, latencies from a second, timed run. Steady demand: open loop, each',
    'due id taken on the next turn of the event loop; "loop late" is how far behind schedule a turn',
    'started (event-loop stalls: refill parsing, GC). The fixed-batch client has no tryNext().',
    '',
    ...lines,
    '',
    ...refillCost(),
    '',
    `(checksum ${sink % 10})`,
    '',
  ];
}
