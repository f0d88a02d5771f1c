import { Snowflake as SapphireSnowflake } from '@sapphire/snowflake';
import { systemClock } from '@app/core';
import { IssuePermit, PermitSource, SnowflakeGenerator, SnowflakeLayout } from '@app/snowflake';
import { Candidate, fmt, measure, Measured } from './measure';

/**
 * In-process snowflake ids/s (node dist/bench/snowflake.js): our generator (two-halves decimal
 * text and BigInt text) beside flake-idgen and @sapphire/snowflake, same run, against the
 * layout's ceiling of 4,096 ids per ms (4,096,000/s). A short run: 3 rounds of 300 ms each.
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
const permit: IssuePermit = { workerId: 1, afterMs: 0, untilMs: Number.MAX_SAFE_INTEGER, generation: 1 };

/** one id at a time; when the ms is used up and borrowing is at its bound, spin to the next ms */
function single(text: 'halves' | 'bigint'): () => string {
  const gen = new SnowflakeGenerator({ layout, clock: systemClock, permits, maxBackwardMs: 5, maxBorrowMs: 16, text });
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
    { name: '@sapphire/snowflake 3.5', next: () => sapphire.generate().toString() },
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

async function main(): Promise<void> {
  const log = (s: string) => process.stderr.write(s + '\n');
  const rows: Measured[] = measure(snowflakeCandidates(), { rounds: 3, roundMs: 300, log });
  rows.push({ name: 'id-allocator snowflake, batches of 1000 (two-halves)', idsPerSecond: await batches('halves', 500) });
  rows.push({ name: 'id-allocator snowflake, batches of 1000 (BigInt)', idsPerSecond: await batches('bigint', 500) });
  const flakeRate = rows.find((r) => r.name.startsWith('flake-idgen'))!.idsPerSecond;
  const lines = [
    `Node ${process.version}, ${new Date().toISOString()}`,
    '',
    '| generator | ids/s | vs ceiling 4,096,000/s | vs flake-idgen |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.idsPerSecond)} | ${(r.idsPerSecond / CEILING).toFixed(2)} | ${(r.idsPerSecond / flakeRate).toFixed(2)}x |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(String(e?.stack ?? e) + '\n');
    process.exit(1);
  });
}
