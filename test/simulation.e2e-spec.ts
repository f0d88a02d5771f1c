import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runSeed, RunSummary, SeedResult } from '../sim/run';

/**
 * The simulator (sim/): the real segment and partition classes and, in half the worlds, the
 * snowflake with its worker leases; several instances, simulated databases with unknown
 * outcomes, stalls, failovers that lose or keep commits, restores, crashes, clock steps and the
 * runbooks. Every id any instance handed out is checked for repeats; every
 * key must issue again once the faults stop and the runbooks ran. A failure prints its seed and
 * the trace that led to it; `npm run sim -- --seed S --seeds 1` replays it.
 */
const RANDOM_SEEDS = 2000;
const MINUTES = 0.25;

function report(r: SeedResult): string {
  return `seed ${r.seed}:\n  ${r.failures.join('\n  ')}\n  trace:\n    ${r.trace.slice(-40).join('\n    ')}`;
}

describe('simulation', () => {
  const regressions = JSON.parse(readFileSync(join(__dirname, '..', 'sim', 'regression-seeds.json'), 'utf8')) as {
    seed: number;
    minutes: number;
    found: string;
    /**
     * whether the world runs the snowflake, and a re-base (seeds found before these were
     * simulated replay without them); null: as the seed decides
     */
    snowflake: boolean | null;
    rebase: boolean | null;
    /** false: no key deleted by hand (seeds found before deletions were simulated); absent or null: as the seed decides */
    deletes?: boolean | null;
  }[];

  test.each(regressions)('regression seed $seed: $found', async ({ seed, minutes, snowflake, rebase, deletes }) => {
    const r = await runSeed(seed, minutes, { snowflake: snowflake ?? undefined, rebase: rebase ?? undefined, deletes: deletes ?? undefined });
    if (!r.ok) throw new Error(report(r));
    expect(r.idsChecked).toBeGreaterThan(1000);
    expect(r.failures).toEqual([]);
  });

  // Seeds still failing, each with what was seen, are listed so that every other seed is held to
  // the rules. The seeds run in a process of their own (dist/sim/run.js, built by npm test): in
  // this one, the heap the other suites left makes them several times slower.
  test(`seeds 1..${RANDOM_SEEDS}: no id issued twice (beyond the documented lost-write window), every key issues again`, () => {
    const root = join(__dirname, '..');
    const run = spawnSync(
      process.execPath,
      [join(root, 'dist', 'sim', 'run.js'), '--seed', '1', '--seeds', String(RANDOM_SEEDS), '--minutes', String(MINUTES), '--open', join(root, 'sim', 'open-seeds.json'), '--json', '--trace', '40'],
      { encoding: 'utf8', timeout: 1_500_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const lines = run.stdout.trim().split('\n');
    const summary = JSON.parse(lines[lines.length - 1]) as RunSummary;
    process.stdout.write(
      `simulation: seeds 1..${RANDOM_SEEDS}: ${summary.events} events, ${summary.faults} faults, ${summary.ids} ids checked, ` +
        `${summary.explained} documented repeats, ${summary.ms} ms` +
        (summary.openPassing.length > 0 ? `; open seeds now passing (remove them from sim/open-seeds.json): ${summary.openPassing.join(', ')}` : '') +
        '\n',
    );
    const failed = summary.failed.slice(0, 3).map((f) => `seed ${f.seed}:\n  ${f.failures.join('\n  ')}\n  trace:\n    ${f.trace.join('\n    ')}`);
    expect(failed).toEqual([]);
    expect(run.status).toBe(0);
    expect(summary.seeds).toBe(RANDOM_SEEDS);
    expect(summary.ids).toBeGreaterThan(RANDOM_SEEDS * 1000);
  }, 1_600_000);
});
