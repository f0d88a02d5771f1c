/**
 * In-process throughput: each candidate runs in rounds, interleaved A B C A B C, so drift of the
 * machine hits all alike; the median round is reported. A checksum over every produced id keeps
 * the work from being optimised away and forces each string flat.
 */
export interface Candidate {
  name: string;
  /** produce one id */
  next: () => string | bigint | number;
}

export interface Measured {
  name: string;
  idsPerSecond: number;
}

let sink = 0;

function round(c: Candidate, ms: number): number {
  const deadline = performance.now() + ms;
  let n = 0;
  let sum = 0;
  while (true) {
    for (let i = 0; i < 1000; i++) {
      const id = c.next();
      const s = typeof id === 'string' ? id : String(id);
      sum += s.charCodeAt(s.length - 1) + s.length;
    }
    n += 1000;
    if (performance.now() >= deadline) break;
  }
  sink ^= sum;
  return n / (ms / 1000);
}

export function measure(candidates: Candidate[], opts: { rounds?: number; roundMs?: number; log?: (s: string) => void } = {}): Measured[] {
  const rounds = opts.rounds ?? 5;
  const roundMs = opts.roundMs ?? 400;
  const samples = candidates.map(() => [] as number[]);
  for (const c of candidates) round(c, 100); // warm up
  for (let r = 0; r < rounds; r++) {
    candidates.forEach((c, i) => samples[i].push(round(c, roundMs)));
    opts.log?.(`  round ${r + 1}/${rounds}`);
  }
  return candidates.map((c, i) => {
    const sorted = [...samples[i]].sort((a, b) => a - b);
    return { name: c.name, idsPerSecond: sorted[Math.floor(sorted.length / 2)] };
  });
}

export function sinkValue(): number {
  return sink;
}

export function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

export function table(rows: Measured[], baseline: string): string {
  const base = rows.find((r) => r.name === baseline)!.idsPerSecond;
  const lines = ['| generator | ids/s | vs ' + baseline + ' |', '|---|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.idsPerSecond)} | ${(r.idsPerSecond / base).toFixed(2)}x |`);
  return lines.join('\n');
}
