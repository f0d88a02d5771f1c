import { request } from './support/app';
import { ServerProcess, sleep } from './support/process';

/**
 * Load for the high-availability tests: per instance, one caller per strategy, each answer
 * recorded with the phase it fell in. Bounded in time by stop() and in count by maxRequests.
 */
export type Phase = 'before' | 'during' | 'after';

export interface Tally {
  ok: Record<Phase, number>;
  refused: Record<Phase, number>;
  codes: Record<string, number>;
}

const tally = (): Tally => ({ ok: { before: 0, during: 0, after: 0 }, refused: { before: 0, during: 0, after: 0 }, codes: {} });

export class HaLoad {
  phase: Phase = 'before';
  readonly ids: Record<string, string[]> = {};
  /** tallies[instance][path] */
  readonly tallies: Tally[][];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly servers: () => ServerProcess[],
    private readonly paths: string[],
    private readonly options: { pauseMs: number; maxRequests: number },
  ) {
    for (const p of paths) this.ids[p] = [];
    this.tallies = this.servers().map(() => paths.map(tally));
    this.loops = this.servers().flatMap((_, i) => paths.map((p, j) => this.loop(i, p, j)));
  }

  private async loop(i: number, path: string, j: number): Promise<void> {
    for (let n = 0; this.running && n < this.options.maxRequests; n++) {
      const t = this.tallies[i][j];
      const phase = this.phase;
      try {
        const res = await fetch(`${this.servers()[i].url}${path}`, { signal: AbortSignal.timeout(15_000) });
        const body = (await res.json()) as { ids?: string[]; code?: string };
        if (res.status === 200) {
          t.ok[phase]++;
          this.ids[path].push(...body.ids!);
        } else {
          t.refused[phase]++;
          t.codes[`${res.status} ${body.code}`] = (t.codes[`${res.status} ${body.code}`] ?? 0) + 1;
        }
      } catch (e) {
        t.refused[phase]++;
        t.codes[`network ${(e as Error).name}`] = (t.codes[`network ${(e as Error).name}`] ?? 0) + 1;
      }
      await sleep(this.options.pauseMs);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** one line per instance and path: 200s and refusals before / during / after */
  report(): string {
    const lines: string[] = [];
    this.tallies.forEach((row, i) =>
      row.forEach((t, j) => {
        const f = (p: Phase) => `${t.ok[p]}/${t.refused[p]}`;
        lines.push(
          `instance ${i + 1} ${this.paths[j]}: 200s/refused before ${f('before')}, during ${f('during')}, after ${f('after')}${
            Object.keys(t.codes).length ? ` (${JSON.stringify(t.codes)})` : ''
          }`,
        );
      }),
    );
    return lines.join('\n');
  }

  /** refusals in one phase, over every instance and path */
  refusedIn(phase: Phase): number {
    return this.tallies.flat().reduce((a, t) => a + t.refused[phase], 0);
  }

  /** each instance and path refused, or served nothing, after the move; [] when every caller was served */
  notServedAfter(): string[] {
    return this.tallies.flatMap((row, i) =>
      row.flatMap((t, j) => (t.ok.after > 0 && t.refused.after === 0 ? [] : [`instance ${i + 1} ${this.paths[j]}: ${t.ok.after} served, ${t.refused.after} refused`])),
    );
  }

  refusals(i: number): number {
    return this.tallies[i].reduce((a, t) => a + t.refused.before + t.refused.during + t.refused.after, 0);
  }
}

/** Commit latency on one node while a peer fails: the longest single commit seen. */
export class CommitProbe {
  longestMs = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(exec: () => Promise<void>) {
    this.done = (async () => {
      for (let n = 0; this.running && n < 100_000; n++) {
        const started = Date.now();
        try {
          await exec();
        } catch {
          /* counted as a stall by its time */
        }
        this.longestMs = Math.max(this.longestMs, Date.now() - started);
        await sleep(50);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Two service processes on the same URL, one key created through the admin API and warmed on each. */
export async function twoInstancesWithKey(
  env: Record<string, string>,
  token: string,
  key: { key: string; step: number },
  warmPath: string,
): Promise<ServerProcess[]> {
  const servers = [await ServerProcess.start({ ...env, ADMIN_TOKEN: token }, [], 60_000)];
  servers.push(await ServerProcess.start({ ...env, ADMIN_TOKEN: token }, [], 60_000));
  await createKey(servers[0], token, key);
  for (const s of servers) expect((await request(`${s.url}${warmPath}`)).status).toBe(200);
  return servers;
}

export async function createKey(server: ServerProcess, token: string, key: { key: string; step: number }): Promise<void> {
  const created = await request(`${server.url}/admin/segments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(key),
  });
  expect(created.status).toBe(201);
}
