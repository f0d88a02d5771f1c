import { BitPermutation, deriveFf1Key, IdPermutation } from '@app/fpe';
import { Candidate, fmt, measure } from './measure';

/**
 * In-process FF1 rates (node dist/bench/fpe.js): public ids (IdPermutation, FF1 radix 2 over 63
 * bits, cycle-walked) one at a time and in batches, and the snowflake low-bit permutation
 * (BitPermutation, 22 bits, timestamp tweak per call), beside a plain counter (decimal text) from
 * the same run. A short run (about 3 s).
 */

const key = deriveFf1Key('bench secret, not a real one: 0123456789abcdef');

export function fpeCandidates(): Candidate[] {
  const ids = new IdPermutation(key, 'orders');
  const bits = new BitPermutation(22, key);
  let plain = 1_000_000_000_000n;
  let a = 1_000_000_000_000n;
  let s = 1_000_000_000_000;
  let w = 0;
  let ms = Date.now();
  /** one id at a time out of batches of 1000 consecutive ids, as the segment route hands them out */
  const batched = <T>(make: (from: number) => T[]): (() => T) => {
    let batch: T[] = [];
    let at = 0;
    let from = 1_000_000_000_000;
    return () => {
      if (at === batch.length) {
        batch = make(from);
        from += 1000;
        at = 0;
      }
      return batch[at++];
    };
  };
  const thousand = new Array<number>(1000);
  let msBatch = Date.now();
  return [
    { name: 'plain sequence (decimal text)', next: () => String(plain++) },
    { name: 'IdPermutation.encrypt (bigint -> text)', next: () => ids.encrypt(a++).toString() },
    { name: 'IdPermutation.encryptString (text -> text)', next: () => ids.encryptString(String(s++)) },
    {
      name: 'IdPermutation.encryptMany, batches of 1000 (bigint -> text)',
      next: batched((from) => ids.encryptMany(Array.from({ length: 1000 }, (_, j) => BigInt(from + j))).map(String)),
    },
    {
      name: 'IdPermutation.encryptStrings, batches of 1000 (text -> text)',
      next: batched((from) => ids.encryptStrings(Array.from({ length: 1000 }, (_, j) => String(from + j)))),
    },
    {
      name: 'BitPermutation(22).encrypt, timestamp tweak per call',
      next: () => {
        if ((w = (w + 1) & 0x3fffff) === 0) ms++;
        return bits.encrypt(w, ms);
      },
    },
    {
      name: 'BitPermutation(22).encryptMany, 1000 per timestamp',
      next: batched(() => {
        for (let j = 0; j < 1000; j++) thousand[j] = j;
        return bits.encryptMany(thousand, msBatch++);
      }),
    },
  ];
}

function main(): void {
  const log = (line: string) => process.stderr.write(line + '\n');
  const rows = measure(fpeCandidates(), { rounds: 3, roundMs: 250, log });
  const plain = rows[0].idsPerSecond;
  const lines = [
    `Node ${process.version}, ${new Date().toISOString()}`,
    '',
    '| measured | encrypts/s | vs plain |',
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.idsPerSecond)} | ${(r.idsPerSecond / plain).toFixed(3)}x |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

if (require.main === module) main();
