/**
 * `npm run sim -- --seeds N [--seed S] [--minutes M]`: runs seeds S, S+1, ... (S random when not
 * given), each a world of its own; a failing seed prints its trace and replays exactly with
 * `--seed S --seeds 1`.
 */
import { World } from './world';

export interface SeedResult {
  seed: number;
  ok: boolean;
  events: number;
  faults: number;
  idsChecked: number;
  duplicates: number;
  explained: number;
  failures: string[];
  trace: string[];
}

export async function runSeed(seed: number, minutes = 2): Promise<SeedResult> {
  const world = new World({ seed, minutes });
  await world.run();
  const c = world.checker;
  const failures = [
    ...c.unexplained.slice(0, 5).map((d) => `duplicate ${d.ns} id ${d.id}: first by ${d.first}, again by ${d.second} (${d.why})`),
    ...(c.unexplained.length > 5 ? [`... ${c.unexplained.length} unexplained duplicates in all`] : []),
    ...c.problems.slice(0, 5),
    ...c.stalls.slice(0, 5),
    ...world.time.crashes.slice(0, 3).map((e) => `a timer callback threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
  ];
  return {
    seed,
    ok: failures.length === 0,
    events: world.events,
    faults: world.faults,
    idsChecked: c.idsChecked,
    duplicates: c.duplicates.length,
    explained: c.duplicates.length - c.unexplained.length,
    failures,
    trace: world.traceTail,
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const seeds = Number(arg('seeds') ?? 100);
  const first = arg('seed') !== undefined ? Number(arg('seed')) : Math.floor(Math.random() * 2 ** 31);
  const minutes = Number(arg('minutes') ?? 2);
  const traceLines = Number(arg('trace') ?? 60);
  let failed = 0;
  let ids = 0;
  let events = 0;
  let faults = 0;
  let explained = 0;
  const started = Date.now();
  for (let seed = first; seed < first + seeds; seed++) {
    const r = await runSeed(seed, minutes);
    ids += r.idsChecked;
    events += r.events;
    faults += r.faults;
    explained += r.explained;
    if (!r.ok) {
      failed++;
      console.log(`seed ${seed} FAILED:\n  ${r.failures.join('\n  ')}\n  trace (last ${traceLines} lines):\n    ${r.trace.slice(-traceLines).join('\n    ')}`);
      console.log(`  replay: npm run sim -- --seed ${seed} --seeds 1 --minutes ${minutes}`);
    }
  }
  console.log(
    `${seeds} seeds from ${first} (${minutes} virtual min each): ${failed} failed; ${events} events, ${faults} faults, ` +
      `${ids} ids checked, ${explained} documented repeats (lost writes no instance could see); ${Date.now() - started} ms`,
  );
  process.exitCode = failed > 0 ? 1 : 0;
}

if (require.main === module) void main();
