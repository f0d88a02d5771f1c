import { FetchedRange, RangeSource, SegmentBuffer } from '@app/segment';
import { Candidate } from './measure';
import { load, median, Service } from './http';

/** A source that answers at once: measures the buffer, not a database. */
class InstantSource implements RangeSource {
  private max = 1n;
  async fetch(step: number): Promise<FetchedRange> {
    this.max += BigInt(step);
    return { start: this.max - BigInt(step), end: this.max };
  }
}

function buffer(): SegmentBuffer {
  return new SegmentBuffer('bench', new InstantSource(), {
    preload: 0.1,
    waitMs: 2000,
    // one segment larger than any run consumes: the loop is synchronous, so a refill could
    // never land during it (and a drained buffer would measure nothing)
    step: 4_000_000_000,
    stepMax: 4_000_000_000,
    dynamicStep: false,
  });
}

function must<T>(value: T | undefined | Promise<unknown>): T {
  if (value === undefined || value instanceof Promise) throw new Error('the bench buffer ran dry');
  return value as T;
}

/**
 * In-process SegmentBuffer: one id per call as a string (take(1), what /ids answers) and as a
 * number (what /alloc answers). Primed so every call is served synchronously.
 */
export async function segmentCandidates(): Promise<Candidate[]> {
  const asString = buffer();
  const asNumber = buffer();
  await asString.take(1);
  await asNumber.take(1);
  return [
    { name: 'SegmentBuffer take(1) (string)', next: () => must<string[]>(asString.take(1))[0] },
    { name: 'SegmentBuffer takeNumberSync (number)', next: () => must<number>(asNumber.takeNumberSync()) },
  ];
}

export interface RefillRow {
  dialect: string;
  step: number;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
}

/**
 * Refill invisibility: single-id latency with step 100 (a fetch every 100 ids) against step
 * 1,000,000 (no fetch during the run), dynamic step off, interleaved A B A B on one service.
 */
export async function refillInvisibility(
  dialect: string,
  env: Record<string, string>,
  log: (s: string) => void,
  rounds = 3,
  seconds = 5,
): Promise<RefillRow[]> {
  const token = 'bench-admin-token-0123456789';
  const service = await Service.start({ ...env, SEGMENT_DYNAMIC_STEP: 'false', ADMIN_TOKEN: token });
  try {
    for (const step of [100, 1_000_000]) {
      const res = await fetch(`${service.url}/admin/segments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key: `step${step}`, step }),
      });
      if (res.status !== 201 && res.status !== 409) throw new Error(`create key: ${res.status} ${await res.text()}`);
    }
    const runs: Record<number, Awaited<ReturnType<typeof load>>[]> = { 100: [], 1_000_000: [] };
    await load(`${service.url}/ids/segment?key=step100`, { seconds: 2 }); // warm up
    await load(`${service.url}/ids/segment?key=step1000000`, { seconds: 2 });
    for (let r = 0; r < rounds; r++) {
      for (const step of [100, 1_000_000]) {
        log(`  ${dialect} step ${step} round ${r + 1}/${rounds}`);
        runs[step].push(await load(`${service.url}/ids/segment?key=step${step}`, { seconds }));
      }
    }
    return [100, 1_000_000].map((step) => ({
      dialect,
      step,
      rps: median(runs[step].map((x) => x.rps)),
      p50: median(runs[step].map((x) => x.p50)),
      p99: median(runs[step].map((x) => x.p99)),
      p999: median(runs[step].map((x) => x.p999)),
      errors: runs[step].reduce((n, x) => n + x.errors + x.non2xx, 0),
    }));
  } finally {
    await service.stop();
  }
}

export interface TicketRow {
  dialect: string;
  strategy: string;
  rps: number;
  p99: number;
  errors: number;
}

/** What buffering buys: single-id req/s of `ticket` (a round trip per id) against `segment`, same service. */
export async function ticketVsSegment(
  dialect: string,
  env: Record<string, string>,
  log: (s: string) => void,
  rounds = 2,
  seconds = 4,
): Promise<TicketRow[]> {
  const service = await Service.start({ ...env });
  try {
    const runs: Record<string, Awaited<ReturnType<typeof load>>[]> = { ticket: [], segment: [] };
    for (let r = 0; r < rounds; r++) {
      for (const strategy of ['ticket', 'segment']) {
        log(`  ${dialect} ${strategy} round ${r + 1}/${rounds}`);
        runs[strategy].push(await load(`${service.url}/ids/${strategy}`, { seconds }));
      }
    }
    return ['ticket', 'segment'].map((strategy) => ({
      dialect,
      strategy,
      rps: median(runs[strategy].map((x) => x.rps)),
      p99: median(runs[strategy].map((x) => x.p99)),
      errors: runs[strategy].reduce((n, x) => n + x.errors + x.non2xx, 0),
    }));
  } finally {
    await service.stop();
  }
}
