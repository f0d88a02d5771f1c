import { randomUUID } from 'node:crypto';
import { v7 as uuidPkgV7, v4 as uuidPkgV4 } from 'uuid';
import { UuidV4, UuidV7 } from '@app/uuid';
import { Candidate, fmt } from './measure';

/** In-process ids/s of our generators beside the npm peers, same run. */
export function uuidCandidates(): Candidate[] {
  const v4 = new UuidV4();
  const v7 = new UuidV7();
  return [
    { name: 'crypto.randomUUID()', next: () => randomUUID() },
    { name: 'id-allocator uuid (v4)', next: () => v4.next() },
    { name: 'id-allocator uuidv7', next: () => v7.next() },
    { name: 'uuid@11 v4', next: () => uuidPkgV4() },
    { name: 'uuid@11 v7', next: () => uuidPkgV7() },
  ];
}

// hyperid ships its own types but as ESM-style default; require keeps it CommonJS-simple
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hyperid: (opts?: { urlSafe?: boolean }) => () => string = require('hyperid');

/** npm peers that are not snowflakes (those are in snowflake.ts) */
export function peerCandidates(): Candidate[] {
  const h = hyperid();
  return [{ name: 'hyperid 3 (not a 64-bit id: uuid + counter)', next: () => h() }];
}

/** `ticket` on a real SQLite file (synchronous=FULL: an fsync per id) against the segment buffer on the same file */
export async function ticketInProcess(log: (s: string) => void): Promise<string[]> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadConfig } = await import('@app/core');
  const { dataSourceOptions, newDataSource, runMigrations, sqliteHandle, sqliteWriterFor } = await import('@app/database');
  const { SqliteTicketStore, SqliteSegmentStore, SegmentBuffer } = await import('@app/segment');
  log('in-process: ticket vs segment on a real SQLite file');
  const config = loadConfig({ env: { SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'idb-')), 'ip.sqlite') } });
  const ds = await newDataSource(dataSourceOptions(config)).initialize();
  const writer = sqliteWriterFor(ds);
  try {
    await runMigrations(ds);
    const ticket = new SqliteTicketStore(sqliteHandle(ds));
    const store = new SqliteSegmentStore(sqliteHandle(ds), writer);
    const buffer = new SegmentBuffer('default', { fetch: async (step) => { const max = await store.fetch('default', step); return { start: max - BigInt(step), end: max }; } }, { preload: 0.1, waitMs: 2000, step: 1000, stepMax: 1_000_000, dynamicStep: true });
    const time = async (fn: () => Promise<unknown>, ms: number) => {
      const end = performance.now() + ms;
      let n = 0;
      while (performance.now() < end) {
        await fn();
        n++;
      }
      return n / (ms / 1000);
    };
    const t = await time(() => ticket.take(1), 1000);
    const s = await time(async () => { const r = buffer.take(1); if (!Array.isArray(r)) await r; }, 1000);
    return [
      '## In-process on a real SQLite file (synchronous=FULL), 1 s each',
      '',
      '| generator | ids/s | vs ticket |',
      '|---|---:|---:|',
      `| ticket (REPLACE ... RETURNING, an fsync per id) | ${fmt(t)} | 1.0x |`,
      `| segment buffer over the same file | ${fmt(s)} | ${(s / t).toFixed(0)}x |`,
      '',
    ];
  } finally {
    await writer.close();
    await ds.destroy();
  }
}
