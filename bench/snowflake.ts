import { Snowflake as SapphireSnowflake } from '@sapphire/snowflake';
import { systemClock } from '@app/core';
import { IssuePermit, PermitSource, SnowflakeGenerator, SnowflakeLayout } from '@app/snowflake';
import { Candidate, fmt, measure, Measured } from './measure';

/**
 * In-process snowflake ids/s (node dist/bench/snowflake.js): our generator (two-halves decimal
 * text and BigInt text) beside flake-idgen and @sapphire/snowflake, same run, against the
 * layout's ceiling of 4,096 ids per ms (4,096,000/s), and with a 22-bit sequence (no practical
 * ceiling) for the raw cost per id. A short run (about 5 s). Rates slightly above the ceiling
 * come from the bounded borrowing ahead of the clock (at most 16 ms) within a short round.
 */
// flake-idgen ships no types
// eslint-disable-next-line @typescript-eslint/no-require-imports
const FlakeId: new (options: { id: number; epoch: number }) => { next(): Buffer } = require('flake-idgen');

const CEILING = 4_096_000;
const layout = SnowflakeLayout.parse('41,10,12', '2025-01-01T00:00:00Z');
const permits: PermitSource = {
  permit: () => permit,
  reason: () => '',
};
const permit: IssuePermit = { workerId: 0, afterMs: 0, untilMs: Number.MAX_SAFE_INTEGER, generation: 1 };

/** 22 sequence bits: a ceiling of 4M ids per ms, far above any generator, to show the raw cost per id */
const wide = SnowflakeLayout.parse('41,0,22', '2025-01-01T00:00:00Z');

/** one id at a time; when the ms is used up and borrowing is at its bound, spin to the next ms */
function single(text: 'halves' | 'bigint', l = layout): () => string {
  const gen = new SnowflakeGenerator({ layout: l, clock: systemClock, permits, maxBackwardMs: 5, maxBorrowMs: 16, text });
  return () => {
    for (;;) {
      const r = gen.next(1);
      if (Array.isArray(r)) return r[0];
      r.catch(() => undefined);
      const ms = Date.now();
      while (Date.now() === ms) {
        /* the ceiling: wait for the clock */
      }
    }
  };
}

function flake(): () => string {
  const f = new FlakeId({ id: 1, epoch: layout.epochMs });
  return () => {
    for (;;) {
      try {
        return f.next().readBigUInt64BE(0).toString();
      } catch {
        const ms = Date.now(); // flake-idgen throws when a ms runs out
        while (Date.now() === ms) {
          /* wait for the next ms */
        }
      }
    }
  };
}

export function snowflakeCandidates(): Candidate[] {
  const sapphire = new SapphireSnowflake(layout.epochMs);
  return [
    { name: 'id-allocator snowflake (two-halves text)', next: single('halves') },
    { name: 'id-allocator snowflake (BigInt text)', next: single('bigint') },
    { name: 'flake-idgen 1.4 (Buffer -> decimal)', next: flake() },
    { name: 'id-allocator snowflake uncapped 41,0,22 (two-halves text)', next: single('halves', wide) },
    { name: 'id-allocator snowflake uncapped 41,0,22 (BigInt text)', next: single('bigint', wide) },
    { name: '@sapphire/snowflake 3.5 (no per-ms limit: repeats ids past 4,096/ms)', next: () => sapphire.generate().toString() },
  ];
}

/** batches of 1000 as the HTTP route asks for them, waiting (await) when the generator says so */
async function batches(text: 'halves' | 'bigint', ms: number): Promise<number> {
  const gen = new SnowflakeGenerator({ layout, clock: systemClock, permits, maxBackwardMs: 5, maxBorrowMs: 16, text });
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    const r = gen.next(1000);
    n += (Array.isArray(r) ? r : await r).length;
  }
  return n / (ms / 1000);
}

/**
 * The decimal text alone: batches of 1000 on a clock that moves 1 ms per batch (so the 4,096/ms
 * ceiling stays out of the way), generation only and generation + JSON.stringify as the HTTP
 * answer does it (which also flattens the concatenated strings of the two-halves routine).
 */
function textRoutine(text: 'halves' | 'bigint', json: boolean, ms: number): number {
  let fake = Date.now();
  const clock = { now: () => fake };
  const gen = new SnowflakeGenerator({ layout, clock, permits, maxBackwardMs: 5, text });
  let n = 0;
  let sink = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    fake += 1;
    const ids = gen.next(1000) as string[];
    sink += json ? JSON.stringify({ ids }).length : ids[999].length;
    n += ids.length;
  }
  if (sink < 0) throw new Error('unreachable');
  return n / (ms / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const log = (s: string) => process.stderr.write(s + '\n');
  const rows: Measured[] = measure(snowflakeCandidates(), { rounds: 3, roundMs: 150, log });
  rows.push({ name: 'id-allocator snowflake, batches of 1000 (two-halves)', idsPerSecond: await batches('halves', 300) });
  rows.push({ name: 'id-allocator snowflake, batches of 1000 (BigInt)', idsPerSecond: await batches('bigint', 300) });
  const flakeRate = rows.find((r) => r.name.startsWith('flake-idgen'))!.idsPerSecond;
  const text: string[] = [];
  for (const json of [false, true]) {
    const h: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 5; i++) {
      h.push(textRoutine('halves', json, 80));
      b.push(textRoutine('bigint', json, 80));
    }
    text.push(
      `| ${json ? 'generation + JSON.stringify' : 'generation only'} | ${fmt(median(h))} | ${fmt(median(b))} | ${(median(h) / median(b)).toFixed(2)}x |`,
    );
  }
  const lines = [
    `Node ${process.version}, ${new Date().toISOString()}`,
    '',
    '| generator | ids/s | vs ceiling 4,096,000/s | vs flake-idgen |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.idsPerSecond)} | ${(r.idsPerSecond / CEILING).toFixed(2)} | ${(r.idsPerSecond / flakeRate).toFixed(2)}x |`),
    '',
    'Decimal text, batches of 1000, no ceiling in the way (median of 5):',
    '',
    '| measured | two-halves | BigInt | two-halves / BigInt |',
    '|---|---:|---:|---:|',
    ...text,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(String(e?.stack ?? e) + '\n');
    process.exit(1);
  });
}
